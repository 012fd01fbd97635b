//! Pass pipelines on files, in the manner of Cranelift's filetests: every
//! file under `testsuite/passes/` is a graph with its pipeline in a header
//! comment (`// pipeline: lower-qdq,fuse-requant`, optionally
//! `// requant: single_round` and `// target: vnni`, the layout target of
//! `pick-layout`, portable when not given, so that snapshots never depend
//! on the host). The snapshot is what the pipeline prints:
//! its remarks, then the resulting graph. Each result must also parse back
//! and verify (the printed result of any pipeline is a valid graph). Add a
//! case by adding a file.

use qcc_compiler::{CompileOptions, LayoutTarget, compile_with, load_str};
use qcc_ir::RequantMode;
use qcc_testsuite::header;

#[test]
fn pass_pipelines_on_files() {
    insta::glob!("../passes", "*.txt", |path: &std::path::Path| {
        let text = std::fs::read_to_string(path).expect("readable case");
        let file = path.file_name().unwrap().to_string_lossy();
        let name = format!("passes/{file}");
        let pipeline =
            header(&text, "pipeline").unwrap_or_else(|| panic!("{name}: no `// pipeline:` header"));
        let requant = match header(&text, "requant") {
            None => RequantMode::Float,
            Some(m) => RequantMode::from_name(m).unwrap_or_else(|| panic!("{name}: mode `{m}`")),
        };
        let g = load_str(&text, &name, Some(std::path::Path::new("passes")))
            .unwrap_or_else(|e| panic!("{}", e.render()));
        let target = header(&text, "target")
            .map(|t| LayoutTarget::from_name(t).unwrap_or_else(|| panic!("{name}: target `{t}`")));
        let options = CompileOptions {
            passes: Some(pipeline.to_string()),
            requant,
            target: Some(target.unwrap_or(LayoutTarget::Portable)),
            verify_each: true,
        };
        let (out, runs) =
            compile_with(g, &options, &mut |_, _| {}).unwrap_or_else(|e| panic!("{name}: {e}"));
        let printed = qcc_ir::text::print(&out);
        let back = load_str(&printed, &name, Some(std::path::Path::new("passes")))
            .unwrap_or_else(|e| panic!("{name}: the result does not load:\n{}", e.render()));
        assert!(
            back == out,
            "{name}: the printed result does not parse back to itself"
        );
        let mut snap = match target {
            None => format!("// pipeline: {pipeline} (requant {requant})\n"),
            Some(t) => format!(
                "// pipeline: {pipeline} (requant {requant}, target {})\n",
                t.name()
            ),
        };
        for r in &runs {
            for m in &r.log.remarks {
                snap.push_str(&format!("// remark: {}: {m}\n", r.name));
            }
        }
        snap.push_str(&printed);
        insta::assert_snapshot!(snap);
    });
}
