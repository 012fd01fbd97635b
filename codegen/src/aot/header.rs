//! The C header of an ahead-of-time object.
//!
//! The interface of issue 18, exactly:
//!
//! ```c
//! #define NAME_NUM_INPUTS  <n>
//! #define NAME_NUM_OUTPUTS <m>
//! #define NAME_SCRATCH_BYTES <bytes>
//! static const size_t NAME_INPUT_BYTES[]  = { ... };
//! static const size_t NAME_OUTPUT_BYTES[] = { ... };
//! int NAME_run(const void *const *inputs, void *const *outputs, void *scratch);
//! ```
//!
//! and for every input `i` (outputs: `NAME_OUTPUT_j_...`) its name, element
//! type and shape as macros (`NAME_INPUT_i_NAME`, `_ELEM`, `_RANK`,
//! `_SHAPE`), for a per-tensor quantized type its scale and zero point
//! (`_SCALE`, `_ZERO_POINT`), and the full qcc type in a comment (per-axis
//! parameters included).

use super::{AotObject, AotTensor};
use qcc_ir::types::ElemType;
use std::fmt::Write as _;

/// A C string literal of `s` (non-ASCII and control bytes escaped).
fn c_string(s: &str) -> String {
    let mut out = String::from("\"");
    for b in s.bytes() {
        match b {
            b'"' | b'\\' => {
                out.push('\\');
                out.push(b as char);
            }
            0x20..=0x7e if b != b'?' => out.push(b as char),
            _ => {
                let _ = write!(out, "\\{b:03o}");
            }
        }
    }
    out.push('"');
    out
}

/// The text of a comment (no `*/` inside it).
fn comment(s: &str) -> String {
    s.replace("*/", "* /")
}

/// A float as a C literal that reads back to the same `f32`.
fn c_float(x: f32) -> String {
    if x.is_finite() {
        format!("{x:e}f")
    } else {
        "0.0f /* not finite */".into()
    }
}

fn tensor(out: &mut String, prefix: &str, kind: &str, i: usize, t: &AotTensor) {
    let m = format!("{prefix}_{kind}_{i}");
    let _ = writeln!(
        out,
        "/* {} {i}: {}: {} ({} bytes) */",
        kind.to_lowercase(),
        comment(&t.name),
        comment(&t.ty.to_string()),
        t.bytes
    );
    let _ = writeln!(out, "#define {m}_NAME {}", c_string(&t.name));
    let _ = writeln!(out, "#define {m}_ELEM \"{}\"", t.ty.elem.storage());
    let _ = writeln!(out, "#define {m}_RANK {}", t.ty.shape.len());
    let dims: Vec<String> = t.ty.shape.iter().map(|d| d.to_string()).collect();
    let _ = writeln!(
        out,
        "#define {m}_SHAPE {{ {} }}",
        if dims.is_empty() {
            "1".to_string()
        } else {
            dims.join(", ")
        }
    );
    if let ElemType::Quant(q) = &t.ty.elem {
        if q.axis.is_none() {
            let _ = writeln!(out, "#define {m}_SCALE {}", c_float(q.scales[0]));
            let _ = writeln!(out, "#define {m}_ZERO_POINT {}", q.zero_points[0]);
        } else {
            let _ = writeln!(
                out,
                "#define {m}_AXIS {} /* per-axis scales and zero points: the type above */",
                q.axis.unwrap_or(0)
            );
        }
    }
}

fn sizes(list: &[AotTensor]) -> String {
    if list.is_empty() {
        // C before C23 has no empty initializer.
        "0 /* none */".into()
    } else {
        list.iter()
            .map(|t| t.bytes.to_string())
            .collect::<Vec<_>>()
            .join(", ")
    }
}

/// The header of `obj`.
pub fn render(obj: &AotObject) -> String {
    let n = &obj.name;
    let guard = format!("{}_QCC_H", n.to_uppercase());
    let mut out = String::new();
    let _ = writeln!(
        out,
        "/* {n}.h: the interface of {n}.o, written by qcc (qcc compile --emit header).\n \
         *\n \
         * Object for {} (CPU features: {}). Link with libc and libm only:\n \
         *   cc main.c {n}.o -lm\n \
         *\n \
         * Every tensor is dense row-major in its element type; buffers are\n \
         * 64-byte aligned by the caller. {n}_run reads the inputs, writes the\n \
         * outputs and uses the caller's scratch buffer of {n}_SCRATCH_BYTES\n \
         * (64-byte aligned; its contents need not be kept between calls). It\n \
         * allocates nothing and has no global state: runs with distinct\n \
         * scratch buffers may go on at once on many threads. Returns 0, or 1\n \
         * when a pointer it needs is null.\n \
         */",
        obj.arch.name(),
        if obj.features.is_empty() {
            "baseline".to_string()
        } else {
            obj.features.join(", ")
        }
    );
    let _ = writeln!(out, "#ifndef {guard}\n#define {guard}\n");
    let _ = writeln!(out, "#include <stddef.h>\n");
    let _ = writeln!(out, "#ifdef __cplusplus\nextern \"C\" {{\n#endif\n");
    let _ = writeln!(out, "#define {n}_NUM_INPUTS  {}", obj.inputs.len());
    let _ = writeln!(out, "#define {n}_NUM_OUTPUTS {}", obj.outputs.len());
    let _ = writeln!(out, "#define {n}_SCRATCH_BYTES {}", obj.scratch_bytes);
    let _ = writeln!(
        out,
        "static const size_t {n}_INPUT_BYTES[]  = {{ {} }};  /* graph input order */",
        sizes(&obj.inputs)
    );
    let _ = writeln!(
        out,
        "static const size_t {n}_OUTPUT_BYTES[] = {{ {} }};  /* graph output order */",
        sizes(&obj.outputs)
    );
    let _ = writeln!(
        out,
        "int {n}_run(const void *const *inputs, void *const *outputs, void *scratch); /* 0 = ok */\n"
    );
    for (i, t) in obj.inputs.iter().enumerate() {
        tensor(&mut out, n, "INPUT", i, t);
    }
    for (j, t) in obj.outputs.iter().enumerate() {
        tensor(&mut out, n, "OUTPUT", j, t);
    }
    let _ = writeln!(
        out,
        "\n#ifdef __cplusplus\n}}\n#endif\n\n#endif /* {guard} */"
    );
    out
}
