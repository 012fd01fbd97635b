//! Ahead-of-time objects (`qcc compile --emit obj|header`): a verified,
//! compiled graph as a relocatable object file for x86-64 or aarch64 and
//! the C header of its interface. The code generator does the work
//! (`qcc_codegen::aot`, whose module doc says what the object contains and
//! which ops it refuses); this module names the targets.

use qcc_codegen::CodegenError;
pub use qcc_codegen::aot::{
    AotArch, AotObject, AotOptions, AotTensor, is_c_identifier, sanitize_name,
};
use qcc_ir::Graph;

/// The object targets, as `--target` names them.
pub const TARGETS: [&str; 3] = ["x86_64", "aarch64", "host"];

/// `(architecture, native features)` of a target name: `x86_64`, `aarch64`
/// (their default features), or `host` (this machine's architecture and
/// features). `None` for any other name.
pub fn parse_target(name: &str) -> Option<(AotArch, bool)> {
    match name {
        "x86_64" => Some((AotArch::X86_64, false)),
        "aarch64" => Some((AotArch::Aarch64, false)),
        "host" => AotArch::host().map(|a| (a, true)),
        _ => None,
    }
}

/// Compiles `graph` (already through its passes; verified again here) to an
/// object.
pub fn compile_object(graph: &Graph, options: &AotOptions) -> Result<AotObject, CodegenError> {
    qcc_codegen::aot::compile_object(graph, options)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets_and_names() {
        assert_eq!(parse_target("aarch64"), Some((AotArch::Aarch64, false)));
        assert_eq!(parse_target("arm"), None);
        for t in TARGETS {
            assert!(t == "host" || parse_target(t).is_some());
        }
        assert!(is_c_identifier("digits_mlp"));
        assert!(!is_c_identifier("9lives"));
        assert!(!is_c_identifier("int"));
        assert!(!is_c_identifier("a-b"));
        assert_eq!(sanitize_name("digits-mlp.v2"), "digits_mlp_v2");
        assert_eq!(sanitize_name("3x"), "_3x");
        assert_eq!(sanitize_name("int"), "_int");
    }

    #[test]
    fn a_relu_compiles_for_both_architectures() {
        let g = qcc_ir::text::parse(
            "graph @g(%x: tensor<4xf32>) -> (%y: tensor<4xf32>) {\n  %r = relu %x : tensor<4xf32>\n  return %r\n}\n",
            None,
        )
        .unwrap();
        for arch in [AotArch::X86_64, AotArch::Aarch64] {
            let o = compile_object(
                &g,
                &AotOptions {
                    arch,
                    native: false,
                    features: vec![],
                    name: "g".into(),
                    optimize: true,
                },
            )
            .unwrap();
            assert_eq!(&o.object[..4], b"\x7fELF");
            let h = o.header();
            assert!(h.contains("#define g_NUM_INPUTS  1"), "{h}");
            assert!(
                h.contains("static const size_t g_INPUT_BYTES[]  = { 16 };"),
                "{h}"
            );
            assert!(h.contains(
                "int g_run(const void *const *inputs, void *const *outputs, void *scratch);"
            ));
        }
    }
}
