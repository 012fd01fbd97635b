//! Damaged graph files never panic: every prefix of every example (a
//! truncated download) and deterministic byte corruptions of each either
//! load or give diagnostics that render.

use std::path::{Path, PathBuf};

fn examples() -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples");
    let mut v: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "txt"))
        .collect();
    v.sort();
    v
}

fn load(text: &str, dir: &Path) -> bool {
    match qcc_compiler::load_str(text, "damaged.txt", Some(dir)) {
        Ok(_) => true,
        Err(e) => {
            let r = e.render();
            assert!(r.starts_with("error: "), "{r}");
            false
        }
    }
}

#[test]
fn every_prefix_loads_or_fails_cleanly() {
    for path in examples() {
        let text = std::fs::read_to_string(&path).unwrap();
        let dir = path.parent().unwrap();
        let mut cut = 0;
        while cut < text.len() {
            if text.is_char_boundary(cut) {
                // Only the whole file (or the file minus trailing text) may load.
                let ok = load(&text[..cut], dir);
                assert!(
                    !ok || text[cut..].trim().is_empty()
                        || text[cut..].trim_start().starts_with("//"),
                    "{}: the prefix of {cut} bytes loaded",
                    path.display()
                );
            }
            cut += 1 + cut / 64;
        }
        assert!(load(&text, dir), "{}", path.display());
    }
}

#[test]
fn corrupted_bytes_load_or_fail_cleanly() {
    // A small LCG so the corruptions are the same on every run.
    let mut state: u64 = 0x2545_f491_4f6c_dd1d;
    let mut next = move || {
        state = state
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (state >> 33) as usize
    };
    let replacements: &[&str] = &[
        "",
        "%",
        "!",
        "<",
        ">",
        "x",
        "0",
        "-",
        "9999999999",
        "{",
        "}",
        ",",
        ":",
        "nan",
        "\"",
        "@",
    ];
    for path in examples() {
        let text = std::fs::read_to_string(&path).unwrap();
        let dir = path.parent().unwrap();
        for _ in 0..300 {
            let mut t = text.clone();
            let mut at = next() % t.len();
            while !t.is_char_boundary(at) {
                at -= 1;
            }
            let mut end = (at + 1 + next() % 4).min(t.len());
            while !t.is_char_boundary(end) {
                end += 1;
            }
            t.replace_range(at..end, replacements[next() % replacements.len()]);
            load(&t, dir);
        }
    }
}
