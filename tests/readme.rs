//! The front door cannot rot: every code block README.md marks with `<!-- tested … -->` is
//! run here. A `sh` block's commands run one by one with bash, from a copy of the repository's
//! `config/` and `scripts/` (so the demo never touches the checkout), with this build's
//! `ckptd` first on PATH; each must exit 0. A `toml` block must pass `ckptd check`. What the
//! README says `prune` ends with must be what it prints.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::Fixture;

/// The marked blocks of README.md: (info string, body).
fn tested_blocks(readme: &str) -> Vec<(String, String)> {
    let mut blocks = Vec::new();
    let mut lines = readme.lines();
    while let Some(line) = lines.next() {
        if !line.starts_with("<!-- tested") {
            continue;
        }
        let fence = lines.next().unwrap_or_default();
        let info = fence
            .strip_prefix("```")
            .unwrap_or_else(|| panic!("a tested marker must be followed by a code block: {fence}"));
        let body: Vec<&str> = lines.by_ref().take_while(|l| *l != "```").collect();
        blocks.push((info.to_owned(), body.join("\n")));
    }
    blocks
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target).unwrap();
        }
    }
}

/// A bash running in `root` with this build's ckptd first on PATH and a home of its own.
fn shell(root: &Path, bin: &Path, line: &str) -> std::process::Output {
    let path = format!(
        "{}:{}",
        bin.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    Command::new("bash")
        .args(["-euo", "pipefail", "-c", line])
        .current_dir(root)
        .env("PATH", path)
        .env("HOME", root.join("home"))
        .env("XDG_STATE_HOME", root.join("home/state"))
        .env_remove("STATE_DIRECTORY")
        .env_remove("JOURNAL_STREAM")
        .env_remove("NOTIFY_SOCKET")
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap()
}

#[test]
fn every_command_and_config_the_readme_marks_as_tested_works() {
    let repo = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let readme = std::fs::read_to_string(repo.join("README.md")).unwrap();
    let blocks = tested_blocks(&readme);
    assert!(
        blocks.iter().filter(|(info, _)| info == "sh").count() >= 1
            && blocks.iter().filter(|(info, _)| info == "toml").count() >= 2,
        "README.md lost its tested blocks: {blocks:?}"
    );
    let f = Fixture::new();
    let root = f.path("repo");
    copy_dir(&repo.join("config"), &root.join("config"));
    copy_dir(&repo.join("scripts"), &root.join("scripts"));
    let bin = f.path("bin");
    std::fs::create_dir_all(&bin).unwrap();
    std::os::unix::fs::symlink(env!("CARGO_BIN_EXE_ckptd"), bin.join("ckptd")).unwrap();

    let mut printed = String::new();
    for (index, (info, body)) in blocks.iter().enumerate() {
        match info.as_str() {
            "sh" => {
                for line in body.lines().filter(|l| !l.trim().is_empty()) {
                    let out = shell(&root, &bin, line);
                    let text = format!("{}{}", common::stdout(&out), common::stderr(&out));
                    assert!(
                        out.status.success(),
                        "README command `{line}` failed:\n{text}"
                    );
                    printed.push_str(&text);
                }
            }
            "toml" => {
                let file = f.write(&format!("readme-{index}.toml"), body);
                let out = Command::new(env!("CARGO_BIN_EXE_ckptd"))
                    .args(["check", "--config"])
                    .arg(&file)
                    .output()
                    .unwrap();
                assert!(
                    out.status.success(),
                    "README config block {index} does not pass check:\n{body}\n{}",
                    common::stderr(&out)
                );
            }
            other => panic!("a tested block must be sh or toml, not `{other}`"),
        }
    }
    // "`prune` ends with `deleted 10 checkpoints, …`": the summary it prints.
    let claim = readme
        .split("`prune` ends with `")
        .nth(1)
        .and_then(|rest| rest.split('`').next())
        .expect("README says what prune ends with");
    assert!(
        printed.contains(claim),
        "README says prune ends with `{claim}`; it printed:\n{printed}"
    );
}
