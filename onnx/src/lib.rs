//! ONNX import: decodes `.onnx` files (protobuf, through `prost`) and builds
//! qcc graphs. Not written yet: see the issue "ONNX import of quantized
//! models, and conformance against the ONNX test suite and onnxruntime".

#![forbid(unsafe_code)]
