//! What the Debian package ships, tested from the repository: the /etc/ckptd/ckptd.toml it
//! installs is accepted as it is and leaves the daemon idle with one WARN, and its commented
//! examples are valid once uncommented; its units are systemd/'s with the package's paths;
//! ckptd.toml(5) names every key docs/configuration.md does. (.ci/run builds the package
//! itself and checks what it holds: scripts/check-deb.)

mod common;

use common::daemon::Daemon;
use common::{assert_success, Fixture};

const ETC_CONFIG: &str = include_str!("../deploy/debian/ckptd.toml");

fn repo_file(path: &str) -> String {
    std::fs::read_to_string(std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(path))
        .unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// A unit from `[Unit]` on: the comment above it says how to install it, which differs.
fn unit_body(text: &str) -> &str {
    &text[text.find("[Unit]").expect("a [Unit] section")..]
}

#[test]
fn the_packaged_units_are_the_systemd_ones_with_the_package_paths() {
    for unit in ["ckptd.service", "ckptd-prune.service", "ckptd-prune.timer"] {
        let source = repo_file(&format!("systemd/{unit}"));
        let packaged = repo_file(&format!("deploy/debian/{unit}"));
        let expected = unit_body(&source)
            .replace("/usr/local/bin/ckptd", "/usr/bin/ckptd")
            .replace(
                "Documentation=file:///usr/local/share/doc/ckptd/README.md",
                "Documentation=file:///usr/share/doc/ckptd/README.md man:ckptd(8) man:ckptd.toml(5)",
            );
        assert_eq!(
            unit_body(&packaged),
            expected,
            "deploy/debian/{unit} is not systemd/{unit} with the package's paths: change both"
        );
        assert!(!packaged.contains("/usr/local"), "{unit}");
        assert!(
            source.contains("/usr/local"),
            "{unit}: the source unit is for /usr/local"
        );
    }
}

#[test]
fn the_toml_man_page_names_every_key_of_the_configuration_reference() {
    let reference = repo_file("docs/configuration.md");
    let page = repo_file("docs/man/ckptd.toml.5");
    let keys_section = &reference[reference.find("### Keys").unwrap()..];
    let table = &keys_section[keys_section.find("\n| key |").unwrap() + 1..];
    let table = &table[..table.find("\n\n").unwrap()];
    let keys: Vec<&str> = table
        .lines()
        .filter_map(|row| row.strip_prefix("| `")?.split('`').next())
        .collect();
    assert!(keys.len() > 30, "{keys:?}");
    for key in keys {
        assert!(
            page.contains(&format!(".B {key}\n")),
            "ckptd.toml(5) lacks `{key}`"
        );
    }
}

#[test]
fn the_packaged_etc_config_passes_check_and_says_it_is_idle() {
    let f = Fixture::new();
    f.config(ETC_CONFIG);
    let out = f.ckptd(&["check", "--config", "ckptd.toml"]);
    assert_success(&out);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains(": ok (0 watches)"), "{stdout}");
    assert!(stdout.contains("nothing to manage"), "{stdout}");
}

#[test]
fn the_daemon_idles_on_the_packaged_config_with_exactly_one_warn() {
    let f = Fixture::new();
    f.config(ETC_CONFIG);
    let state = f.mkdir("state");
    let daemon = Daemon::start(&f, &[("STATE_DIRECTORY", state.to_str().unwrap())]);
    // Long enough for a second pass to warn again, were it going to.
    std::thread::sleep(std::time::Duration::from_millis(1500));
    let status = daemon.stop();
    let log = std::fs::read_to_string(f.path("daemon.log")).unwrap();
    assert!(status.success(), "{status:?}\n{log}");
    let warns: Vec<&str> = log.lines().filter(|l| l.contains(" WARN ")).collect();
    assert_eq!(warns.len(), 1, "{log}");
    assert!(warns[0].contains("no [[watch]]"), "{log}");
    assert!(!log.contains("ERROR"), "{log}");
}

#[test]
fn the_packaged_config_examples_are_valid_once_uncommented() {
    let f = Fixture::new();
    let data = f.mkdir("data");
    let text = uncommented(ETC_CONFIG).replace("path = \"/data\"", &format!("path = {data:?}"));
    assert!(text.contains("\n[[watch]]\n"), "{text}");
    f.config(&text);
    let out = f.ckptd(&["check", "--config", "ckptd.toml"]);
    assert_success(&out);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("ok (2 watches, 1 filesystem)"),
        "{stdout}\n{text}"
    );
}

/// Every line `# key = …` or `# [table]` without its `# `; prose comments stay comments.
fn uncommented(text: &str) -> String {
    text.lines()
        .map(|line| match line.strip_prefix("# ") {
            Some(rest) if rest.starts_with('[') || is_assignment(rest) => rest,
            _ => line,
        })
        .collect::<Vec<_>>()
        .join("\n")
}

fn is_assignment(text: &str) -> bool {
    text.split_once(" = ").is_some_and(|(key, _)| {
        !key.is_empty() && key.chars().all(|c| c == '_' || c.is_ascii_lowercase())
    })
}

#[test]
fn uncommenting_keeps_prose() {
    let text = "# A comment = not a key\n# keep_last = 2\n# [daemon]\n#   indented = no";
    assert_eq!(
        uncommented(text),
        "# A comment = not a key\nkeep_last = 2\n[daemon]\n#   indented = no"
    );
}
