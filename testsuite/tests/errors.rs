//! Bad inputs: every file under `testsuite/errors/` must be rejected, and the
//! rendered diagnostics are pinned by a snapshot (one per file, found by
//! glob; add a case by adding a file, then `cargo insta review`).

#[test]
fn every_error_case_is_rejected_with_a_diagnostic() {
    insta::glob!("../errors", "*.txt", |path: &std::path::Path| {
        let text = std::fs::read_to_string(path).expect("readable case");
        let file = path.file_name().unwrap().to_string_lossy();
        let name = format!("errors/{file}");
        // Tests run in the package folder: a relative base keeps absolute
        // paths out of the snapshots.
        let dir = std::path::Path::new("errors");
        let rendered = match qcc_compiler::load_str(&text, &name, Some(dir)) {
            Ok(_) => panic!("{name} was accepted, but every case under errors/ must fail"),
            Err(e) => e.render(),
        };
        assert!(rendered.starts_with("error: "), "{name}: {rendered}");
        insta::assert_snapshot!(rendered);
    });
}
