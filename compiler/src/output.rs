//! Writing a graph to a file, with its large constants beside it.
//!
//! A graph printed to a file must load from there: a `dense_file<"...">`
//! path is relative to the graph file's folder, so constants that came from
//! `.npy` files next to the *input* graph would dangle if their references
//! were printed unchanged into a file elsewhere. [`print_to_file`] therefore
//! writes every constant that came from a file, and every constant with more
//! than `inline_max` elements, as a `.npy` file into `<stem>_data/` beside
//! the output, and prints references to those.

use qcc_ir::{Graph, Op, Tensor};
use std::collections::HashSet;
use std::path::Path;

/// The element count above which [`print_to_file`] moves a constant out of
/// the text by default.
pub const DEFAULT_INLINE_MAX: usize = 256;

/// Prints `graph` for the file `out` and writes its external constants (see
/// the module doc). Returns the text; the caller writes it to `out`.
pub fn print_to_file(graph: &Graph, out: &Path, inline_max: usize) -> std::io::Result<String> {
    let stem = out
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default();
    let folder = format!("{stem}_data");
    let dir = out.parent().unwrap_or(Path::new("")).join(&folder);
    let mut g = graph.clone();
    let mut used = HashSet::new();
    for (k, v) in graph.canonical_order().into_iter().enumerate() {
        let node = graph.node(v);
        let Op::Const(c) = &node.op else { continue };
        if c.file.is_none() && c.data.len() <= inline_max {
            continue;
        }
        let base = node.name.clone().unwrap_or_else(|| format!("c{k}"));
        let mut name = base.clone();
        let mut i = 1;
        while !used.insert(name.clone()) {
            name = format!("{base}_{i}");
            i += 1;
        }
        std::fs::create_dir_all(&dir)?;
        let file = format!("{name}.npy");
        // A packed constant's file holds its packed data, one dimension.
        let t = Tensor {
            shape: node.ty.storage_shape(),
            data: (*c.data).clone(),
        };
        qcc_ir::npy::write(&dir.join(&file), &t)?;
        if let Op::Const(c) = &mut g.node_mut(v).op {
            c.file = Some(format!("{folder}/{file}"));
        }
    }
    Ok(qcc_ir::text::print(&g))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn printed_file_loads_from_another_folder() {
        let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/digits_mlp.txt");
        let g = crate::load_file(&src).unwrap();
        let dir = std::env::temp_dir().join(format!("qcc-output-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let out = dir.join("mlp.txt");
        let text = print_to_file(&g, &out, 16).unwrap();
        std::fs::write(&out, &text).unwrap();
        assert!(text.contains("dense_file<\"mlp_data/w1.npy\">"), "{text}");
        let back = crate::load_file(&out).unwrap();
        assert!(back == g, "the written graph differs from the original");
        let _ = std::fs::remove_dir_all(&dir);
    }
}
