//! What ckptd generates about itself for packaging and operators: `--version` (release, git
//! commit, target), `completions SHELL` for bash, zsh and fish, and the ckptd(8) man page.

mod common;

use std::process::Command;

use common::{assert_success, Fixture};

/// Every visible command; completions and the man page must name each of them.
const COMMANDS: [&str; 11] = [
    "run",
    "check",
    "plan",
    "prune",
    "status",
    "pin",
    "explain",
    "unpin",
    "history",
    "completions",
    "man",
];

fn stdout(args: &[&str]) -> String {
    let out = Fixture::new().ckptd(args);
    assert_success(&out);
    String::from_utf8(out.stdout).expect("UTF-8 output")
}

#[test]
fn version_names_the_release_the_commit_and_the_target() {
    let text = stdout(&["--version"]);
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 3, "{text}");
    assert_eq!(lines[0], format!("ckptd {}", env!("CARGO_PKG_VERSION")));
    let commit = lines[1].strip_prefix("commit: ").expect("a commit line");
    assert!(
        commit == "unknown"
            || (commit.len() == 12 && commit.bytes().all(|b| b.is_ascii_hexdigit())),
        "{text}"
    );
    // Built from this checkout: the commit is the checkout's (build.rs re-runs when HEAD moves).
    let head = Command::new("git")
        .args(["rev-parse", "--short=12", "HEAD"])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .ok()
        .filter(|h| h.status.success());
    if let Some(head) = head {
        assert_eq!(
            commit,
            String::from_utf8_lossy(&head.stdout).trim(),
            "{text}"
        );
    }
    let target = lines[2].strip_prefix("target: ").expect("a target line");
    assert!(target.starts_with(std::env::consts::ARCH), "{text}");
    assert!(target.contains(std::env::consts::OS), "{text}");
    assert_eq!(stdout(&["-V"]), text, "-V says the same");
}

#[test]
fn completions_for_bash_zsh_and_fish_name_every_command() {
    for shell in ["bash", "zsh", "fish"] {
        let script = stdout(&["completions", shell]);
        assert!(script.len() > 1000, "{shell}: {script}");
        for command in COMMANDS {
            assert!(
                script.contains(command),
                "{shell} completion lacks {command}"
            );
        }
        // fish spells the option `-l config`.
        assert!(
            script.contains("config"),
            "{shell} completion lacks --config"
        );
    }
}

#[test]
fn bash_completes_a_command_and_a_shell_name() {
    let script = stdout(&["completions", "bash"]);
    let complete = |words: &str, cword: usize| {
        let program = format!(
            "{script}\nCOMP_WORDS=({words}); COMP_CWORD={cword}; COMP_LINE=\"{words}\"; \
             COMP_POINT=${{#COMP_LINE}}; _ckptd ckptd \"${{COMP_WORDS[COMP_CWORD]}}\" \"${{COMP_WORDS[COMP_CWORD-1]}}\"; printf '%s\\n' \"${{COMPREPLY[@]}}\""
        );
        let out = Command::new("bash")
            .args(["-c", &program])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let mut words: Vec<String> = String::from_utf8_lossy(&out.stdout)
            .split_whitespace()
            .map(str::to_owned)
            .collect();
        words.sort();
        words
    };
    assert_eq!(complete("ckptd pr", 1), ["prune"]);
    assert_eq!(complete("ckptd completions f", 2), ["fish"]);
}

#[test]
fn completions_refuse_an_unknown_shell() {
    let out = Fixture::new().ckptd(&["completions", "tcsh"]);
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn the_man_page_renders_with_every_command() {
    let page = stdout(&["man"]);
    assert!(page.contains(".TH ckptd 8 "), "{page}");
    let f = Fixture::new();
    let file = f.write("ckptd.8", &page);
    // Rendered as an operator reads it, where man-db is installed (.ci/run installs it).
    let Ok(out) = Command::new("man")
        .arg("-l")
        .arg(&file)
        .env("MANWIDTH", "100")
        .env("MAN_KEEP_FORMATTING", "0")
        .output()
    else {
        eprintln!("man not installed: the page is checked as roff only");
        return;
    };
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = plain(&String::from_utf8_lossy(&out.stdout));
    for command in COMMANDS {
        assert!(
            text.contains(&format!("ckptd {command}")),
            "{command}:\n{text}"
        );
    }
    assert!(
        text.contains("EXIT STATUS") && text.contains("ckptd.toml(5)"),
        "{text}"
    );
}

/// Terminal text without man's overstrike bold (`N\x08N`), as `col -b` would leave it.
fn plain(text: &str) -> String {
    let mut out = String::new();
    for c in text.chars() {
        if c == '\x08' {
            out.pop();
        } else {
            out.push(c);
        }
    }
    out
}
