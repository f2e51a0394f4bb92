//! `max_bytes`, `[[filesystem]]` and `disk_check_interval`: parsed into the pressure step's
//! types, refused with file:line:column, and checked against the disk at load time.

use std::path::Path;
use std::time::Duration;

use super::tests::{assert_one_error, parse};
use super::{overrides, Config};
use crate::pressure::{FilesystemTarget, Floor};

const WATCH: &str = r#"
[[watch]]
name = "w"
runs = ["/data/runs/*"]
layout = "huggingface"
keep_last = 2
"#;

#[test]
fn filesystems_budgets_and_the_check_interval_parse() {
    let config = parse(&format!(
        r#"
[daemon]
disk_check_interval = "10s"

[[filesystem]]
path = "/data"
min_free = "10%"
min_free_inodes = "5%"
headroom = "next-save"

[[filesystem]]
path = "scratch"
min_free = "500GiB"
min_free_inodes = 20000
{WATCH}max_bytes = "2TiB"
"#
    ))
    .unwrap();
    assert_eq!(config.daemon.disk_check_interval, Duration::from_secs(10));
    let targets: Vec<&FilesystemTarget> = config.filesystems.iter().map(|f| &f.target).collect();
    assert_eq!(
        targets,
        [
            &FilesystemTarget {
                path: "/data".into(),
                min_free: Some(Floor::Percent(10.0)),
                min_free_inodes: Some(Floor::Percent(5.0)),
                headroom: true,
            },
            &FilesystemTarget {
                path: "/etc/ckptd/scratch".into(),
                min_free: Some(Floor::Amount(500 << 30)),
                min_free_inodes: Some(Floor::Amount(20_000)),
                headroom: false,
            },
        ]
    );
    assert_eq!(config.filesystems[0].at, (6, 8));
    assert_eq!(config.watches[0].max_bytes, Some(2 << 40));
}

#[test]
fn nothing_disk_aware_applies_unless_configured() {
    let config = parse(WATCH).unwrap();
    assert!(config.filesystems.is_empty());
    assert_eq!(config.watches[0].max_bytes, None);
    assert_eq!(config.daemon.disk_check_interval, Duration::from_secs(30));
}

#[test]
fn bad_floors_are_refused_at_their_position() {
    for (value, message) in [
        ("\"0%\"", "a percentage must be above 0% and below 100%"),
        ("\"100%\"", "a percentage must be above 0% and below 100%"),
        ("\"lots\"", "`lots` is not a size"),
        ("0", "`min_free` must be at least 1"),
        ("-3", "`min_free` must be at least 1, not -3"),
    ] {
        assert_one_error(
            &format!("[[filesystem]]\npath = \"/data\"\nmin_free = {value}\n{WATCH}"),
            "3:12:",
            message,
        );
    }
    assert_one_error(
        &format!("[[filesystem]]\npath = \"/data\"\nmin_free_inodes = \"5GiB\"\n{WATCH}"),
        "3:19:",
        "is not a number of inodes or a percentage",
    );
}

#[test]
fn a_filesystem_table_must_say_where_and_what() {
    assert_one_error(
        &format!("[[filesystem]]\nmin_free = \"10%\"\n{WATCH}"),
        "1:1:",
        "[[filesystem]] needs `path`",
    );
    assert_one_error(
        &format!("[[filesystem]]\npath = \"/data\"\n{WATCH}"),
        "1:1:",
        "asks for nothing: set `min_free`, `min_free_inodes` or `headroom`",
    );
    assert_one_error(
        &format!("[[filesystem]]\npath = \"/data\"\nheadroom = \"next-saves\"\n{WATCH}"),
        "3:12:",
        "is not \"next-save\"",
    );
    assert_one_error(
        &format!("[[filesystem]]\npath = \"/data\"\nmin_fre = \"10%\"\n{WATCH}"),
        "3:1:",
        "min_fre",
    );
}

#[test]
fn max_bytes_and_the_interval_are_checked_like_other_keys() {
    assert_one_error(
        &format!("{WATCH}max_bytes = 0\n"),
        "7:13:",
        "`max_bytes` must be at least 1 byte",
    );
    assert_one_error(
        &format!("[daemon]\ndisk_check_interval = \"0s\"\n{WATCH}"),
        "2:23:",
        "`disk_check_interval` must be longer than zero",
    );
}

#[test]
fn a_run_may_set_its_own_max_bytes() {
    let config = parse(&format!("{WATCH}run_overrides = true\n")).unwrap();
    let watch = overrides::parse(
        "max_bytes = \"1GiB\"\n",
        Path::new("/data/runs/a/.ckptd.toml"),
        &config.watches[0],
    )
    .unwrap();
    assert_eq!(watch.max_bytes, Some(1 << 30));
}

/// A config file with `tables` in a fresh directory, loaded from disk.
fn load(tables: &str) -> Result<Config, String> {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("here")).unwrap();
    let file = dir.path().join("ckptd.toml");
    std::fs::write(&file, format!("{tables}{WATCH}")).unwrap();
    Config::load(&file).map_err(|e| {
        e.to_string()
            .replace(&dir.path().display().to_string(), "DIR")
    })
}

#[test]
fn a_filesystem_path_that_does_not_exist_is_refused_when_loaded() {
    let error = load("[[filesystem]]\npath = \"missing\"\nmin_free = \"10%\"\n").unwrap_err();
    assert_eq!(
        error,
        "DIR/ckptd.toml:2:8: [[filesystem]] path `DIR/missing` does not exist (name any \
         existing path on the filesystem to keep free)"
    );
}

#[test]
fn two_tables_on_one_filesystem_are_refused_when_loaded() {
    let error = load(
        "[[filesystem]]\npath = \".\"\nmin_free = \"10%\"\n\n\
         [[filesystem]]\npath = \"here\"\nheadroom = \"next-save\"\n",
    )
    .unwrap_err();
    assert_eq!(
        error,
        "DIR/ckptd.toml:6:8: `DIR/here` is on the same filesystem as `DIR` (line 2): one \
         [[filesystem]] table per filesystem"
    );
    assert!(load("[[filesystem]]\npath = \"here\"\nmin_free = 1\n").is_ok());
}
