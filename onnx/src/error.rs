//! Why an ONNX model could not be imported.

use std::path::PathBuf;

/// An import error. Errors about a node name the node (its ONNX name, or
/// its first output when it has none), its op and the reason.
#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    #[error("cannot read `{}`: {source}", path.display())]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("not a valid ONNX protobuf: {0}")]
    Decode(String),
    #[error("invalid model: {0}")]
    Model(String),
    #[error("tensor `{name}`: {reason}")]
    Tensor { name: String, reason: String },
    #[error("graph input `{input}`: {reason}")]
    Input { input: String, reason: String },
    /// An element type qcc has no storage for (float8, float4, 2-bit,
    /// uint16, ...).
    #[error("`{name}` has element type {dtype}, which qcc does not support")]
    UnsupportedType { name: String, dtype: String },
    #[error("binding `{name}`: {reason}")]
    Bind { name: String, reason: String },
    #[error("node `{node}` ({op}): unsupported: {reason}")]
    Unsupported {
        node: String,
        op: String,
        reason: String,
    },
    #[error("node `{node}` ({op}): {reason}")]
    Invalid {
        node: String,
        op: String,
        reason: String,
    },
    /// A scale or zero point that is not a constant: qcc's quantized types
    /// carry their parameters, so they must be known at import time.
    #[error(
        "node `{node}` ({op}): input `{input}` ({role}) must be a constant: qcc's types carry \
         scales and zero points; make it an initializer or bind it (`--bind {input}=file.npy`)"
    )]
    RuntimeParam {
        node: String,
        op: String,
        input: String,
        role: String,
    },
    #[error("the imported graph does not verify: {}", .0.join("; "))]
    Verify(Vec<String>),
}

impl ImportError {
    /// True for errors that say qcc lacks a feature (as opposed to a model
    /// that is malformed).
    pub fn is_unsupported(&self) -> bool {
        matches!(
            self,
            ImportError::Unsupported { .. }
                | ImportError::RuntimeParam { .. }
                | ImportError::UnsupportedType { .. }
        )
    }
}
