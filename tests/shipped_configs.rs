//! Every config shipped in `config/` passes `ckptd check`.

use std::path::{Path, PathBuf};
use std::process::Command;

fn toml_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            toml_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "toml") {
            out.push(path);
        }
    }
}

#[test]
fn every_shipped_config_passes_check() {
    let mut files = Vec::new();
    toml_files(
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("config"),
        &mut files,
    );
    files.sort();
    let names: Vec<String> = files
        .iter()
        .map(|f| f.file_name().unwrap().to_string_lossy().into_owned())
        .collect();
    for expected in [
        "ckptd.toml",
        "demo.toml",
        "huggingface.toml",
        "lightning.toml",
        "dcp.toml",
        "generic.toml",
        "deepspeed.toml",
        "megatron.toml",
        "orbax.toml",
        "torchtitan.toml",
        "opensora.toml",
        "nemo.toml",
    ] {
        assert!(
            names.iter().any(|n| n == expected),
            "config/…/{expected} is missing: {names:?}"
        );
    }
    for file in &files {
        let out = Command::new(env!("CARGO_BIN_EXE_ckptd"))
            .args(["check", "--config"])
            .arg(file)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{} fails check:\n{}",
            file.display(),
            String::from_utf8_lossy(&out.stderr)
        );
    }
}
