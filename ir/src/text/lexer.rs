//! The lexer: source text to tokens with byte spans.
//!
//! Tokens are recognised by a `logos` state machine. The one place where the
//! text format is not context free at the lexical level is the shape of a
//! tensor type: in `tensor<1x64xf32>` the dimensions run straight into the
//! element type, so an identifier rule would swallow `x64xf32`. As MLIR does,
//! qcc lexes the whole dimension prefix `1x64x` as one [`Tok::Dims`] token
//! (digits, each group followed by `x`); the parser splits it into dimensions
//! with a span each. The element type that follows (`f32`, `!act`,
//! `!quant.uniform`) is then an ordinary token.

use crate::diag::{Diagnostic, Span};
use logos::Logos;

/// The kinds of token. The text of a token is its span in the source.
#[derive(Logos, Clone, Copy, Debug, PartialEq, Eq)]
#[logos(skip r"[ \t\r\n\f]+")]
#[logos(skip(r"//[^\n]*", allow_greedy = true))]
pub(crate) enum Tok {
    /// `%name`: a value.
    #[regex(r"%[A-Za-z0-9_.$]+")]
    ValueName,
    /// `@name`: the graph.
    #[regex(r"@[A-Za-z0-9_.$]+")]
    GraphName,
    /// `!name`: a type alias, or `!quant.uniform`.
    #[regex(r"![A-Za-z_][A-Za-z0-9_.$]*")]
    AliasName,
    /// `#name`: a layout (`#k4n64`).
    #[regex(r"#[A-Za-z0-9_]+")]
    LayoutName,
    /// Keywords, op names, attribute names, scalar types, `inf`, `nan`.
    #[regex(r"[A-Za-z_][A-Za-z0-9_]*")]
    Ident,
    #[regex(r"-?[0-9]+")]
    Int,
    #[regex(r"-?[0-9]+\.[0-9]*([eE][+-]?[0-9]+)?")]
    #[regex(r"-?[0-9]+[eE][+-]?[0-9]+")]
    Float,
    /// `-inf` (`inf` and `nan` are identifiers).
    #[token("-inf")]
    NegInf,
    /// A dimension prefix of a tensor type: `1x64x`.
    #[regex(r"([0-9]+x)+")]
    Dims,
    /// `"..."`, no escapes.
    #[regex(r#""[^"]*""#)]
    Str,
    #[token("=")]
    Eq,
    #[token(":")]
    Colon,
    #[token(",")]
    Comma,
    #[token("(")]
    LParen,
    #[token(")")]
    RParen,
    #[token("{")]
    LBrace,
    #[token("}")]
    RBrace,
    #[token("[")]
    LBracket,
    #[token("]")]
    RBracket,
    #[token("<")]
    Lt,
    #[token(">")]
    Gt,
    #[token("->")]
    Arrow,
}

impl Tok {
    /// How the token kind is named in "expected ..." messages.
    pub(crate) fn describe(self) -> &'static str {
        match self {
            Tok::ValueName => "a value name (`%name`)",
            Tok::GraphName => "a graph name (`@name`)",
            Tok::AliasName => "a type alias (`!name`)",
            Tok::LayoutName => "a layout (`#k4n64`)",
            Tok::Ident => "an identifier",
            Tok::Int => "an integer",
            Tok::Float => "a float",
            Tok::NegInf => "`-inf`",
            Tok::Dims => "dimensions (`1x64x`)",
            Tok::Str => "a string",
            Tok::Eq => "`=`",
            Tok::Colon => "`:`",
            Tok::Comma => "`,`",
            Tok::LParen => "`(`",
            Tok::RParen => "`)`",
            Tok::LBrace => "`{`",
            Tok::RBrace => "`}`",
            Tok::LBracket => "`[`",
            Tok::RBracket => "`]`",
            Tok::Lt => "`<`",
            Tok::Gt => "`>`",
            Tok::Arrow => "`->`",
        }
    }
}

/// A token and where it is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Token {
    pub kind: Tok,
    pub span: Span,
}

/// Splits the whole source into tokens. Stops at the first character that
/// starts no token.
pub(crate) fn lex(source: &str) -> Result<Vec<Token>, Diagnostic> {
    let mut tokens = Vec::new();
    let mut lexer = Tok::lexer(source);
    while let Some(result) = lexer.next() {
        let range = lexer.span();
        match result {
            Ok(kind) => tokens.push(Token {
                kind,
                span: Span::new(range.start, range.end),
            }),
            Err(()) => return Err(lex_error(source, range.start)),
        }
    }
    Ok(tokens)
}

/// The diagnostic for text at `start` that starts no token.
fn lex_error(source: &str, mut start: usize) -> Diagnostic {
    // Spans must fall on character boundaries for rendering.
    start = start.min(source.len());
    while !source.is_char_boundary(start) {
        start -= 1;
    }
    let rest = source.get(start..).unwrap_or("");
    if rest.starts_with('"') {
        // An unterminated string: point at the opening quote.
        return Diagnostic::error("unterminated string")
            .with_span(
                Span::new(start, start + 1),
                "this string has no closing `\"`",
            )
            .with_note("strings cannot span lines and have no escapes");
    }
    let c = rest.chars().next().unwrap_or(' ');
    let end = start + c.len_utf8();
    let mut d = Diagnostic::error(format!("unexpected character {c:?}"))
        .with_span(Span::new(start, end), "no token starts here");
    if c == '-' {
        d = d.with_note("a `-` must start a number, `-inf` or `->`");
    } else if c == '.' {
        d = d.with_note("a float needs a digit before the `.` (`0.5`)");
    }
    d
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kinds(s: &str) -> Vec<(Tok, &str)> {
        lex(s)
            .unwrap()
            .into_iter()
            .map(|t| (t.kind, &s[t.span.range()]))
            .collect()
    }

    #[test]
    fn dims_run_into_element_types() {
        assert_eq!(
            kinds("tensor<1x64xf32>"),
            vec![
                (Tok::Ident, "tensor"),
                (Tok::Lt, "<"),
                (Tok::Dims, "1x64x"),
                (Tok::Ident, "f32"),
                (Tok::Gt, ">"),
            ]
        );
        assert_eq!(
            kinds("1x64x!act 3xi4 2x!quant.uniform"),
            vec![
                (Tok::Dims, "1x64x"),
                (Tok::AliasName, "!act"),
                (Tok::Dims, "3x"),
                (Tok::Ident, "i4"),
                (Tok::Dims, "2x"),
                (Tok::AliasName, "!quant.uniform"),
            ]
        );
    }

    #[test]
    fn numbers() {
        assert_eq!(
            kinds("1 -2 0.5 1. -1e5 2.5e-3 -inf inf nan 0.0235:128"),
            vec![
                (Tok::Int, "1"),
                (Tok::Int, "-2"),
                (Tok::Float, "0.5"),
                (Tok::Float, "1."),
                (Tok::Float, "-1e5"),
                (Tok::Float, "2.5e-3"),
                (Tok::NegInf, "-inf"),
                (Tok::Ident, "inf"),
                (Tok::Ident, "nan"),
                (Tok::Float, "0.0235"),
                (Tok::Colon, ":"),
                (Tok::Int, "128"),
            ]
        );
    }

    #[test]
    fn names_comments_and_punctuation() {
        assert_eq!(
            kinds("%x.1 @g // comment\n-> \"0x01\" i8<-127:127>>"),
            vec![
                (Tok::ValueName, "%x.1"),
                (Tok::GraphName, "@g"),
                (Tok::Arrow, "->"),
                (Tok::Str, "\"0x01\""),
                (Tok::Ident, "i8"),
                (Tok::Lt, "<"),
                (Tok::Int, "-127"),
                (Tok::Colon, ":"),
                (Tok::Int, "127"),
                (Tok::Gt, ">"),
                (Tok::Gt, ">"),
            ]
        );
    }

    #[test]
    fn errors_have_whole_characters() {
        let e = lex("graph é").unwrap_err();
        assert_eq!(e.span(), Some(Span::new(6, 8)));
        let e = lex("x \"abc").unwrap_err();
        assert_eq!(e.message, "unterminated string");
        assert!(lex("\u{0}").is_err());
        assert!(lex("").unwrap().is_empty());
    }
}
