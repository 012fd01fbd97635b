//! `qcc compile --emit obj|header`: an ahead-of-time object and its C
//! header (`qcc_compiler::aot`).

use crate::{Failure, error};
use qcc_compiler::aot::{self, AotOptions};
use qcc_ir::Graph;
use std::path::{Path, PathBuf};

/// What `--emit obj|header` was asked for.
pub(crate) struct AotArgs<'a> {
    pub header: bool,
    /// `--target` (`None`: host).
    pub target: Option<&'a str>,
    pub name: Option<&'a str>,
    pub cpu_features: Option<&'a str>,
    pub model: &'a Path,
    pub output: Option<&'a Path>,
}

/// The symbol prefix: `--name`, or the model's file stem made a C
/// identifier.
fn symbol_name(args: &AotArgs) -> Result<String, Failure> {
    match args.name {
        Some(n) if aot::is_c_identifier(n) => Ok(n.to_string()),
        Some(n) => Err(error(format!(
            "`--name {n}` is not a C identifier (letters, digits and `_`, not starting with a \
             digit, not a C keyword)"
        ))),
        None => {
            let stem = args
                .model
                .file_stem()
                .map(|s| s.to_string_lossy().into_owned())
                .unwrap_or_default();
            Ok(aot::sanitize_name(&stem))
        }
    }
}

/// Compiles `g` to an object and writes it (`--emit obj`: to `-o`, else
/// `NAME.o` in the current directory, never to a terminal) or its header
/// (`--emit header`: to `-o`, else standard output).
pub(crate) fn emit(g: &Graph, args: AotArgs) -> Result<(), Failure> {
    let target = args.target.unwrap_or("host");
    let (arch, native) = aot::parse_target(target).ok_or_else(|| {
        error(format!(
            "--emit obj|header: unknown target `{target}`; expected one of: {}",
            aot::TARGETS.join(", ")
        ))
    })?;
    let features = match args.cpu_features {
        None => Vec::new(),
        Some(s) => s
            .split(',')
            .map(|f| f.trim().to_string())
            .filter(|f| !f.is_empty())
            .collect(),
    };
    let name = symbol_name(&args)?;
    let options = AotOptions {
        arch,
        native,
        features,
        name: name.clone(),
        optimize: true,
    };
    let obj = aot::compile_object(g, &options)
        .map_err(|e| error(format!("{}: {e}", args.model.display())))?;
    if args.header {
        let text = obj.header();
        match args.output {
            Some(p) => write_atomically(text.as_bytes(), p),
            None => {
                print!("{text}");
                Ok(())
            }
        }
    } else {
        let path = match args.output {
            Some(p) => p.to_path_buf(),
            None => {
                let p = PathBuf::from(format!("{name}.o"));
                eprintln!("note: writing `{}` (give `-o FILE` to choose)", p.display());
                p
            }
        };
        write_atomically(&obj.object, &path)
    }
}

/// Writes `bytes` to a temporary file beside `out`, then renames it over
/// `out`: a failure leaves neither a partial file nor the temporary.
pub(crate) fn write_atomically(bytes: &[u8], out: &Path) -> Result<(), Failure> {
    let cannot = |e: std::io::Error| error(format!("cannot write `{}`: {e}", out.display()));
    let mut tmp = out.as_os_str().to_owned();
    tmp.push(format!(".{}.tmp", std::process::id()));
    let tmp = PathBuf::from(tmp);
    let result = std::fs::write(&tmp, bytes).and_then(|()| std::fs::rename(&tmp, out));
    if let Err(e) = result {
        let _ = std::fs::remove_file(&tmp);
        return Err(cannot(e));
    }
    Ok(())
}
