//! Post-training quantization (`qcc quantize`): the calibration statistics
//! and the choice of scales and zero points.
//!
//! - `calib`: the per-tensor observer ([`calib::Histogram`], merged across
//!   batches so memory is bounded by the number of tensors) and the range
//!   choosers of every [`calib::Method`], each defined exactly in
//!   `docs/quantize.md`; [`calib::compute_scale_zp`] turns a range into a
//!   scale and a zero point as onnxruntime's `compute_scale_zp` does.
//! - `observe`: [`observe::Observers`], one histogram per f32 input and op
//!   result of the float graph, fed batch by batch by the reference
//!   interpreter's `run_traced` or (`Observers::on_jit`) by the JIT, with
//!   the same values; NaN and Inf inputs are refused.
//! - `rewrite`: [`rewrite::insert_qdq`], the qcc graph with quantize /
//!   dequantize pairs and quantized weights (the `.txt` output);
//! - `onnx`: [`onnx::plan_qdq`], the QDQ ONNX output: the same choices on the
//!   float ONNX model's own protobuf, as onnxruntime places them.
//! - `report`: [`report::compare`], a float model and its quantized twin
//!   compared tensor by tensor (`qcc report`).
//! - `budget`: [`budget::choose`], weight precisions per layer (i4, i8,
//!   float) under a bit budget (`--budget-bits`).

pub mod budget;
pub mod calib;
pub mod observe;
pub mod onnx;
pub mod report;
pub mod rewrite;
