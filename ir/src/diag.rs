//! Diagnostics: a message, labelled spans and notes, rendered in one place.
//!
//! Every stage (lexer, parser, verifier, `.npy` loading, interpreter input
//! checks) reports problems as [`Diagnostic`]s. [`render`] turns them into the
//! rustc-style text a user sees (`error: ...`, ` --> file:line:col`, the
//! source line and a caret under the place); the snapshot tests pin exactly
//! that text.

use codespan_reporting::diagnostic::{Diagnostic as CsDiagnostic, Label as CsLabel};
use codespan_reporting::files::SimpleFile;
use codespan_reporting::term::{self, Chars, Config};
use std::fmt;

/// A byte range in a source text.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub struct Span {
    pub start: u32,
    pub end: u32,
}

impl Span {
    pub fn new(start: usize, end: usize) -> Span {
        Span {
            start: start as u32,
            end: end as u32,
        }
    }

    pub fn range(self) -> std::ops::Range<usize> {
        self.start as usize..self.end as usize
    }

    /// The smallest span covering both.
    pub fn to(self, other: Span) -> Span {
        Span {
            start: self.start.min(other.start),
            end: self.end.max(other.end),
        }
    }
}

/// A labelled place in the source.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Label {
    pub span: Span,
    pub message: String,
    /// The primary label is drawn with `^`, secondary ones with `-`.
    pub primary: bool,
}

/// An error for the user.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Diagnostic {
    pub message: String,
    pub labels: Vec<Label>,
    pub notes: Vec<String>,
}

impl Diagnostic {
    pub fn error(message: impl Into<String>) -> Diagnostic {
        Diagnostic {
            message: message.into(),
            labels: Vec::new(),
            notes: Vec::new(),
        }
    }

    /// Adds the primary label.
    pub fn with_span(mut self, span: Span, label: impl Into<String>) -> Diagnostic {
        self.labels.push(Label {
            span,
            message: label.into(),
            primary: true,
        });
        self
    }

    /// Adds the primary label if there is a span; otherwise adds the label
    /// text as a note (graphs built by passes have no spans).
    pub fn at(self, span: Option<Span>, label: impl Into<String>) -> Diagnostic {
        match span {
            Some(s) => self.with_span(s, label),
            None => {
                let l = label.into();
                if l.is_empty() {
                    self
                } else {
                    self.with_note(l)
                }
            }
        }
    }

    /// Adds a secondary label.
    pub fn with_secondary(mut self, span: Span, label: impl Into<String>) -> Diagnostic {
        self.labels.push(Label {
            span,
            message: label.into(),
            primary: false,
        });
        self
    }

    pub fn with_note(mut self, note: impl Into<String>) -> Diagnostic {
        self.notes.push(note.into());
        self
    }

    /// The primary span, if any.
    pub fn span(&self) -> Option<Span> {
        self.labels.iter().find(|l| l.primary).map(|l| l.span)
    }
}

impl fmt::Display for Diagnostic {
    /// The message alone (no source); use [`render`] for the full form.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for Diagnostic {}

/// Renders diagnostics against the source text they point into, as plain
/// text in rustc's style. `file_name` is shown as given.
pub fn render(diags: &[Diagnostic], file_name: &str, source: &str) -> String {
    let file = SimpleFile::new(file_name, source);
    let config = Config {
        chars: Chars::ascii(),
        ..Config::default()
    };
    let mut out = String::new();
    for d in diags {
        let mut cs = CsDiagnostic::error().with_message(d.message.clone());
        let mut labels = Vec::new();
        for l in &d.labels {
            // Clamp to the source so a stale span cannot make rendering fail.
            let end = (l.span.end as usize).min(source.len());
            let start = (l.span.start as usize).min(end);
            let lab = if l.primary {
                CsLabel::primary((), start..end)
            } else {
                CsLabel::secondary((), start..end)
            };
            labels.push(lab.with_message(l.message.clone()));
        }
        cs = cs.with_labels(labels).with_notes(d.notes.clone());
        let mut buf = String::new();
        if term::emit_to_string(&mut buf, &config, &file, &cs).is_err() {
            buf = format!("error: {}\n", d.message);
        }
        out.push_str(&buf);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_rustc_style() {
        let src = "graph @g() -> () {\n  %y = conv3d %x\n}\n";
        let start = src.find("conv3d").unwrap();
        let d = Diagnostic::error("unknown op `conv3d`")
            .with_span(Span::new(start, start + 6), "not an op")
            .with_note("the ops are: conv2d, ...");
        let text = render(&[d], "g.txt", src);
        assert!(text.starts_with("error: unknown op `conv3d`\n"), "{text}");
        assert!(text.contains("g.txt:2:8"), "{text}");
        assert!(text.contains("^^^^^^ not an op"), "{text}");
        assert!(text.contains("= the ops are"), "{text}");
    }
}
