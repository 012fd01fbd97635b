//! The parser: tokens to a syntax tree with a span on every piece.
//!
//! This stage knows the grammar of `docs/format.md` and nothing else: it does
//! not resolve names, aliases or op names, and it keeps numbers as the text
//! they were written as. [`super::lower`] turns the tree into a
//! [`crate::Graph`], where every semantic error can point at the exact place.
//! The parser stops at the first syntax error.

use super::lexer::{Tok, Token, lex};
use crate::diag::{Diagnostic, Span};

/// How deeply `dense<[...]>` lists may nest. Deeper input is an error (the
/// parser is recursive, and no tensor needs more).
pub(crate) const MAX_LIST_DEPTH: usize = 32;

/// A name without its sigil (`%`, `@`, `!`), or an identifier.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Name<'a> {
    pub text: &'a str,
    pub span: Span,
}

/// What a number literal was written as.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum LitKind {
    Int,
    Float,
    /// `inf`, `-inf` or `nan`.
    Special,
}

/// A number literal, unconverted.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Lit<'a> {
    pub kind: LitKind,
    pub text: &'a str,
    pub span: Span,
}

/// `!name = elem_type`.
#[derive(Debug)]
pub(crate) struct AliasDecl<'a> {
    pub name: Name<'a>,
    pub elem: ElemAst<'a>,
}

/// An element type as written.
#[derive(Debug)]
pub(crate) enum ElemAst<'a> {
    /// A scalar type name (not yet checked to be one).
    Scalar(Name<'a>),
    Alias(Name<'a>),
    Quant(QuantAst<'a>),
}

/// `!quant.uniform<storage[<lo:hi>]:f32[:axis | :{axis:block}], params>`.
#[derive(Debug)]
pub(crate) struct QuantAst<'a> {
    pub span: Span,
    pub storage: Name<'a>,
    pub range: Option<(Lit<'a>, Lit<'a>)>,
    pub expressed: Name<'a>,
    pub axis: Option<Lit<'a>>,
    /// The block size of a blocked type (`:{axis:block}`).
    pub block: Option<Lit<'a>>,
    /// `scale[:zero_point]` pairs.
    pub params: Vec<(Lit<'a>, Option<Lit<'a>>)>,
    /// Whether the parameters were in braces (per axis).
    pub braced: bool,
    pub params_span: Span,
}

/// `tensor<dims x elem>`.
#[derive(Debug)]
pub(crate) struct TensorTypeAst<'a> {
    pub span: Span,
    /// Each dimension's digits and span.
    pub dims: Vec<Name<'a>>,
    pub elem: ElemAst<'a>,
    /// `, #layout` after the element type (the name without `#`).
    pub layout: Option<Name<'a>>,
}

/// `%name: tensor<...>` in the signature.
#[derive(Debug)]
pub(crate) struct Param<'a> {
    pub name: Name<'a>,
    pub ty: TensorTypeAst<'a>,
}

/// The value of an attribute as written.
#[derive(Debug)]
pub(crate) enum AttrValueAst<'a> {
    Num(Lit<'a>),
    /// An identifier other than `inf` / `nan` (`true`, `float`, ...).
    Ident(Name<'a>),
    List(Vec<Lit<'a>>, Span),
}

impl AttrValueAst<'_> {
    pub fn span(&self) -> Span {
        match self {
            AttrValueAst::Num(l) => l.span,
            AttrValueAst::Ident(n) => n.span,
            AttrValueAst::List(_, s) => *s,
        }
    }
}

#[derive(Debug)]
pub(crate) struct AttrAst<'a> {
    pub name: Name<'a>,
    pub value: AttrValueAst<'a>,
}

/// `[...]` in a `dense<...>` body.
#[derive(Debug)]
pub(crate) struct ListAst<'a> {
    pub span: Span,
    pub items: Vec<ListItem<'a>>,
}

#[derive(Debug)]
pub(crate) enum ListItem<'a> {
    Num(Lit<'a>),
    List(ListAst<'a>),
}

/// The data of a `const`.
#[derive(Debug)]
pub(crate) enum ConstAst<'a> {
    Splat(Lit<'a>),
    List(ListAst<'a>),
    /// The string's contents (without quotes) and the string's span.
    Hex(Name<'a>),
    File(Name<'a>),
}

#[derive(Debug)]
pub(crate) enum StmtKind<'a> {
    Op {
        op: Name<'a>,
        operands: Vec<Name<'a>>,
        attrs: Vec<AttrAst<'a>>,
        /// The span of `{...}`, if written.
        attrs_span: Option<Span>,
    },
    Const {
        keyword: Span,
        data: ConstAst<'a>,
    },
}

/// `%name = ... : tensor<...>`.
#[derive(Debug)]
pub(crate) struct Stmt<'a> {
    pub result: Name<'a>,
    pub kind: StmtKind<'a>,
    pub ty: TensorTypeAst<'a>,
}

/// `return %a, %b`.
#[derive(Debug)]
pub(crate) struct Ret<'a> {
    pub keyword: Span,
    pub values: Vec<Name<'a>>,
}

#[derive(Debug)]
pub(crate) struct GraphAst<'a> {
    pub name: Name<'a>,
    pub inputs: Vec<Param<'a>>,
    pub outputs: Vec<Param<'a>>,
    /// The span of the output list `(...)`.
    pub outputs_span: Span,
    pub body: Vec<Stmt<'a>>,
    pub ret: Ret<'a>,
}

#[derive(Debug)]
pub(crate) struct FileAst<'a> {
    pub aliases: Vec<AliasDecl<'a>>,
    pub graph: GraphAst<'a>,
}

type PResult<T> = Result<T, Diagnostic>;

/// Parses a whole file.
pub(crate) fn parse_file(source: &str) -> PResult<FileAst<'_>> {
    let tokens = lex(source)?;
    let mut p = Parser {
        source,
        tokens,
        pos: 0,
    };
    p.file()
}

struct Parser<'a> {
    source: &'a str,
    tokens: Vec<Token>,
    pos: usize,
}

impl<'a> Parser<'a> {
    fn peek(&self) -> Option<Token> {
        self.tokens.get(self.pos).copied()
    }

    fn peek_kind(&self) -> Option<Tok> {
        self.peek().map(|t| t.kind)
    }

    fn text(&self, span: Span) -> &'a str {
        self.source.get(span.range()).unwrap_or("")
    }

    /// Where the end of the file is reported: just after the last token.
    fn eof_span(&self) -> Span {
        let end = self.tokens.last().map(|t| t.span.end as usize).unwrap_or(0);
        Span::new(end, end)
    }

    /// The error for the current token (or the end of the file) when
    /// `expected` was wanted.
    fn unexpected(&self, expected: &str) -> Diagnostic {
        match self.peek() {
            None => Diagnostic::error(format!("unexpected end of file, expected {expected}"))
                .with_span(self.eof_span(), format!("expected {expected} after this"))
                .with_note("the file ends in the middle of the graph"),
            Some(t) => Diagnostic::error(format!(
                "expected {expected}, found `{}`",
                self.text(t.span)
            ))
            .with_span(t.span, format!("expected {expected}")),
        }
    }

    fn bump(&mut self) -> Option<Token> {
        let t = self.peek()?;
        self.pos += 1;
        Some(t)
    }

    /// Consumes a token of the kind, or fails saying `expected`.
    fn expect_desc(&mut self, kind: Tok, expected: &str) -> PResult<Token> {
        match self.peek() {
            Some(t) if t.kind == kind => {
                self.pos += 1;
                Ok(t)
            }
            _ => Err(self.unexpected(expected)),
        }
    }

    fn expect(&mut self, kind: Tok) -> PResult<Token> {
        self.expect_desc(kind, kind.describe())
    }

    fn eat(&mut self, kind: Tok) -> Option<Token> {
        if self.peek_kind() == Some(kind) {
            self.bump()
        } else {
            None
        }
    }

    fn at_keyword(&self, word: &str) -> bool {
        matches!(self.peek(), Some(t) if t.kind == Tok::Ident && self.text(t.span) == word)
    }

    fn expect_keyword(&mut self, word: &str) -> PResult<Span> {
        if self.at_keyword(word) {
            Ok(self.bump().map(|t| t.span).unwrap_or_default())
        } else {
            Err(self.unexpected(&format!("`{word}`")))
        }
    }

    /// A name token without its one-character sigil.
    fn sigil_name(&mut self, kind: Tok) -> PResult<Name<'a>> {
        let t = self.expect(kind)?;
        let text = self.text(t.span);
        Ok(Name {
            text: text.get(1..).unwrap_or(""),
            span: t.span,
        })
    }

    fn ident(&mut self, expected: &str) -> PResult<Name<'a>> {
        let t = self.expect_desc(Tok::Ident, expected)?;
        Ok(Name {
            text: self.text(t.span),
            span: t.span,
        })
    }

    // ---- file structure ----

    fn file(&mut self) -> PResult<FileAst<'a>> {
        let mut aliases = Vec::new();
        while self.peek_kind() == Some(Tok::AliasName) {
            let name = self.sigil_name(Tok::AliasName)?;
            self.expect(Tok::Eq)?;
            let elem = self.elem_type()?;
            aliases.push(AliasDecl { name, elem });
        }
        if self.peek().is_none() {
            return Err(self.unexpected("`graph`"));
        }
        if !self.at_keyword("graph") {
            return Err(self.unexpected("a type alias (`!name = ...`) or `graph`"));
        }
        let graph = self.graph()?;
        if let Some(t) = self.peek() {
            return Err(Diagnostic::error(format!(
                "expected end of file, found `{}`",
                self.text(t.span)
            ))
            .with_span(t.span, "nothing may follow the graph")
            .with_note("a file holds one graph"));
        }
        Ok(FileAst { aliases, graph })
    }

    fn graph(&mut self) -> PResult<GraphAst<'a>> {
        self.expect_keyword("graph")?;
        let name = self.sigil_name(Tok::GraphName)?;
        let (inputs, _) = self.params()?;
        self.expect(Tok::Arrow)?;
        let (outputs, outputs_span) = self.params()?;
        self.expect(Tok::LBrace)?;
        let mut body = Vec::new();
        let ret = loop {
            match self.peek() {
                Some(t) if t.kind == Tok::ValueName => body.push(self.stmt()?),
                _ if self.at_keyword("return") => break self.ret()?,
                _ => return Err(self.unexpected("a statement (`%name = ...`) or `return`")),
            }
        };
        self.expect_desc(Tok::RBrace, "`}` (`return` ends the graph)")?;
        Ok(GraphAst {
            name,
            inputs,
            outputs,
            outputs_span,
            body,
            ret,
        })
    }

    /// `( [param (, param)*] )`.
    fn params(&mut self) -> PResult<(Vec<Param<'a>>, Span)> {
        let open = self.expect(Tok::LParen)?;
        let mut params = Vec::new();
        let close = loop {
            if let Some(t) = self.eat(Tok::RParen) {
                break t;
            }
            if !params.is_empty() {
                self.expect_desc(Tok::Comma, "`,` or `)`")?;
            }
            let name = self.sigil_name(Tok::ValueName)?;
            self.expect(Tok::Colon)?;
            let ty = self.tensor_type()?;
            params.push(Param { name, ty });
        };
        Ok((params, open.span.to(close.span)))
    }

    fn ret(&mut self) -> PResult<Ret<'a>> {
        let keyword = self.expect_keyword("return")?;
        let mut values = Vec::new();
        if self.peek_kind() == Some(Tok::ValueName) {
            values.push(self.sigil_name(Tok::ValueName)?);
            while self.eat(Tok::Comma).is_some() {
                values.push(self.sigil_name(Tok::ValueName)?);
            }
        }
        Ok(Ret { keyword, values })
    }

    fn stmt(&mut self) -> PResult<Stmt<'a>> {
        let result = self.sigil_name(Tok::ValueName)?;
        self.expect(Tok::Eq)?;
        let op = self.ident("an op name")?;
        let kind = if op.text == "const" {
            let data = self.const_data()?;
            StmtKind::Const {
                keyword: op.span,
                data,
            }
        } else {
            let mut operands = Vec::new();
            if self.peek_kind() == Some(Tok::ValueName) {
                operands.push(self.sigil_name(Tok::ValueName)?);
                while self.eat(Tok::Comma).is_some() {
                    operands.push(self.sigil_name(Tok::ValueName)?);
                }
            }
            let (attrs, attrs_span) = if self.peek_kind() == Some(Tok::LBrace) {
                let (a, s) = self.attrs()?;
                (a, Some(s))
            } else {
                (Vec::new(), None)
            };
            StmtKind::Op {
                op,
                operands,
                attrs,
                attrs_span,
            }
        };
        self.expect_desc(Tok::Colon, "`:` and the result type")?;
        let ty = self.tensor_type()?;
        Ok(Stmt { result, kind, ty })
    }

    // ---- attributes ----

    fn attrs(&mut self) -> PResult<(Vec<AttrAst<'a>>, Span)> {
        let open = self.expect(Tok::LBrace)?;
        let mut attrs = Vec::new();
        let close = loop {
            if let Some(t) = self.eat(Tok::RBrace) {
                break t;
            }
            if !attrs.is_empty() {
                self.expect_desc(Tok::Comma, "`,` or `}`")?;
            }
            let name = self.ident("an attribute name")?;
            self.expect_desc(Tok::Eq, "`=` and the attribute's value")?;
            let value = self.attr_value()?;
            attrs.push(AttrAst { name, value });
        };
        Ok((attrs, open.span.to(close.span)))
    }

    fn attr_value(&mut self) -> PResult<AttrValueAst<'a>> {
        const WHAT: &str = "an attribute value (number, name, `true`, `false` or `[...]`)";
        match self.peek_kind() {
            Some(Tok::LBracket) => {
                let open = self.expect(Tok::LBracket)?;
                let mut items = Vec::new();
                let close = loop {
                    if let Some(t) = self.eat(Tok::RBracket) {
                        break t;
                    }
                    if !items.is_empty() {
                        self.expect_desc(Tok::Comma, "`,` or `]`")?;
                    }
                    let t = self.expect_desc(Tok::Int, "an integer")?;
                    items.push(Lit {
                        kind: LitKind::Int,
                        text: self.text(t.span),
                        span: t.span,
                    });
                };
                Ok(AttrValueAst::List(items, open.span.to(close.span)))
            }
            Some(Tok::Ident) => {
                let n = self.ident(WHAT)?;
                if n.text == "inf" || n.text == "nan" {
                    Ok(AttrValueAst::Num(Lit {
                        kind: LitKind::Special,
                        text: n.text,
                        span: n.span,
                    }))
                } else {
                    Ok(AttrValueAst::Ident(n))
                }
            }
            Some(Tok::Int | Tok::Float | Tok::NegInf) => Ok(AttrValueAst::Num(self.number(WHAT)?)),
            _ => Err(self.unexpected(WHAT)),
        }
    }

    /// A number: integer, float, `inf`, `-inf` or `nan`.
    fn number(&mut self, expected: &str) -> PResult<Lit<'a>> {
        let Some(t) = self.peek() else {
            return Err(self.unexpected(expected));
        };
        let text = self.text(t.span);
        let kind = match t.kind {
            Tok::Int => LitKind::Int,
            Tok::Float => LitKind::Float,
            Tok::NegInf => LitKind::Special,
            Tok::Ident if text == "inf" || text == "nan" => LitKind::Special,
            _ => return Err(self.unexpected(expected)),
        };
        self.pos += 1;
        Ok(Lit {
            kind,
            text,
            span: t.span,
        })
    }

    fn int(&mut self, expected: &str) -> PResult<Lit<'a>> {
        let t = self.expect_desc(Tok::Int, expected)?;
        Ok(Lit {
            kind: LitKind::Int,
            text: self.text(t.span),
            span: t.span,
        })
    }

    // ---- constants ----

    fn const_data(&mut self) -> PResult<ConstAst<'a>> {
        const WHAT: &str = "`dense<...>` or `dense_file<\"...\">`";
        if self.at_keyword("dense") {
            self.bump();
            self.expect(Tok::Lt)?;
            let body = match self.peek_kind() {
                Some(Tok::LBracket) => ConstAst::List(self.list(0)?),
                Some(Tok::Str) => ConstAst::Hex(self.string()?),
                _ => ConstAst::Splat(self.number(
                    "constant data: a number (splat), `[...]` or a hex string \"0x...\"",
                )?),
            };
            self.expect_desc(Tok::Gt, "`>` closing `dense<`")?;
            Ok(body)
        } else if self.at_keyword("dense_file") {
            self.bump();
            self.expect(Tok::Lt)?;
            let path = self.string()?;
            self.expect_desc(Tok::Gt, "`>` closing `dense_file<`")?;
            Ok(ConstAst::File(path))
        } else {
            Err(self.unexpected(WHAT))
        }
    }

    /// A string's contents, without the quotes; the span is the whole string.
    fn string(&mut self) -> PResult<Name<'a>> {
        let t = self.expect(Tok::Str)?;
        let text = self.text(t.span);
        let inner = text
            .get(1..text.len().saturating_sub(1))
            .unwrap_or_default();
        Ok(Name {
            text: inner,
            span: t.span,
        })
    }

    fn list(&mut self, depth: usize) -> PResult<ListAst<'a>> {
        let open = self.expect(Tok::LBracket)?;
        if depth >= MAX_LIST_DEPTH {
            return Err(
                Diagnostic::error("constant lists are nested too deeply").with_span(
                    open.span,
                    format!("list nested deeper than {MAX_LIST_DEPTH} levels"),
                ),
            );
        }
        let mut items = Vec::new();
        let close = loop {
            if let Some(t) = self.eat(Tok::RBracket) {
                break t;
            }
            if !items.is_empty() {
                self.expect_desc(Tok::Comma, "`,` or `]`")?;
            }
            if self.peek_kind() == Some(Tok::LBracket) {
                items.push(ListItem::List(self.list(depth + 1)?));
            } else {
                items.push(ListItem::Num(self.number("a number or `[`")?));
            }
        };
        Ok(ListAst {
            span: open.span.to(close.span),
            items,
        })
    }

    // ---- types ----

    fn tensor_type(&mut self) -> PResult<TensorTypeAst<'a>> {
        let start = self.expect_keyword("tensor")?;
        self.expect_desc(Tok::Lt, "`<` after `tensor`")?;
        let mut dims = Vec::new();
        if let Some(t) = self.eat(Tok::Dims) {
            // `1x64x`: digits, each group followed by `x`.
            let text = self.text(t.span);
            let mut offset = t.span.start as usize;
            for part in text.split('x').filter(|p| !p.is_empty()) {
                dims.push(Name {
                    text: part,
                    span: Span::new(offset, offset + part.len()),
                });
                offset += part.len() + 1;
            }
        }
        if self.peek_kind() == Some(Tok::Int) {
            // `tensor<4>` or `tensor<2x4>`: a dimension not followed by `x`.
            let t = self.peek().unwrap_or(Token {
                kind: Tok::Int,
                span: self.eof_span(),
            });
            return Err(Diagnostic::error(format!(
                "expected an element type, found `{}`",
                self.text(t.span)
            ))
            .with_span(t.span, "expected an element type")
            .with_note(
                "every dimension is followed by `x`, then comes the element type: `tensor<2x4xf32>`",
            ));
        }
        let elem = self.elem_type()?;
        let layout = if self.eat(Tok::Comma).is_some() {
            let t = self.expect_desc(Tok::LayoutName, "a layout (`#k4n64`) after `,`")?;
            Some(Name {
                text: self.text(t.span).get(1..).unwrap_or(""),
                span: t.span,
            })
        } else {
            None
        };
        let end = self.expect_desc(Tok::Gt, "`>` closing the tensor type")?;
        Ok(TensorTypeAst {
            span: start.to(end.span),
            dims,
            elem,
            layout,
        })
    }

    fn elem_type(&mut self) -> PResult<ElemAst<'a>> {
        const WHAT: &str = "an element type (`f32`, `i8`, ..., `!quant.uniform<...>` or `!alias`)";
        match self.peek_kind() {
            Some(Tok::Ident) => Ok(ElemAst::Scalar(self.ident(WHAT)?)),
            Some(Tok::AliasName) => {
                let name = self.sigil_name(Tok::AliasName)?;
                if name.text == "quant.uniform" {
                    Ok(ElemAst::Quant(self.quant_type(name.span)?))
                } else if name.text == "quant" || name.text.starts_with("quant.") {
                    Err(
                        Diagnostic::error(format!("unknown quantized type `!{}`", name.text))
                            .with_span(name.span, "expected `!quant.uniform`")
                            .with_note("qcc's only quantized type is `!quant.uniform<...>`"),
                    )
                } else {
                    Ok(ElemAst::Alias(name))
                }
            }
            _ => Err(self.unexpected(WHAT)),
        }
    }

    /// After `!quant.uniform`.
    fn quant_type(&mut self, start: Span) -> PResult<QuantAst<'a>> {
        self.expect_desc(Tok::Lt, "`<` after `!quant.uniform`")?;
        let storage = self.ident("a storage type (`i8`, `u8`, `i32`, ...)")?;
        let range = if self.eat(Tok::Lt).is_some() {
            let lo = self.int("the lowest stored value (an integer)")?;
            self.expect(Tok::Colon)?;
            let hi = self.int("the highest stored value (an integer)")?;
            self.expect_desc(Tok::Gt, "`>` closing the storage range")?;
            Some((lo, hi))
        } else {
            None
        };
        self.expect_desc(Tok::Colon, "`:` and the expressed type `f32`")?;
        let expressed = self.ident("the expressed type `f32`")?;
        let (axis, block) = if self.eat(Tok::Colon).is_some() {
            if self.eat(Tok::LBrace).is_some() {
                let axis = self.int("the blocked axis (an integer)")?;
                self.expect_desc(Tok::Colon, "`:` and the block size")?;
                let block = self.int("the block size (an integer)")?;
                self.expect_desc(
                    Tok::RBrace,
                    "`}` closing `{axis:block}` (qcc blocks one axis)",
                )?;
                (Some(axis), Some(block))
            } else {
                (Some(self.int("the quantized axis (an integer)")?), None)
            }
        } else {
            (None, None)
        };
        self.expect_desc(
            Tok::Comma,
            if axis.is_some() {
                "`,` and the per-axis parameters `{scale:zero_point, ...}`"
            } else {
                "`,` and `scale[:zero_point]` (or `:axis` for a per-axis type)"
            },
        )?;
        let mut params = Vec::new();
        let params_span;
        let braced;
        if let Some(open) = self.eat(Tok::LBrace) {
            braced = true;
            let close = loop {
                if !params.is_empty() {
                    if let Some(t) = self.eat(Tok::RBrace) {
                        break t;
                    }
                    self.expect_desc(Tok::Comma, "`,` or `}`")?;
                }
                params.push(self.scale_zp()?);
            };
            params_span = open.span.to(close.span);
        } else {
            braced = false;
            let p = self.scale_zp()?;
            params_span = p.1.map_or(p.0.span, |z| p.0.span.to(z.span));
            params.push(p);
        }
        let end = self.expect_desc(Tok::Gt, "`>` closing the quantized type")?;
        Ok(QuantAst {
            span: start.to(end.span),
            storage,
            range,
            expressed,
            axis,
            block,
            params,
            braced,
            params_span,
        })
    }

    fn scale_zp(&mut self) -> PResult<(Lit<'a>, Option<Lit<'a>>)> {
        let scale = self.number("a scale (a number)")?;
        let zp = if self.eat(Tok::Colon).is_some() {
            Some(self.int("a zero point (an integer)")?)
        } else {
            None
        };
        Ok((scale, zp))
    }
}
