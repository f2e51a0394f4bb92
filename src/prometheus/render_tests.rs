//! The rendering: exact lines for a small snapshot, escaping, no repeated label set, and the
//! format's rules (HELP and TYPE before every family's samples, `_total` on counters).

use std::time::{Duration, SystemTime};

use super::{render, FsStats, RunStats, Snapshot, Tally, TargetStats};
use crate::pressure::FsState;

fn at(secs: u64) -> SystemTime {
    SystemTime::UNIX_EPOCH + Duration::from_millis(secs * 1000 + 250)
}

fn run(run: &str) -> RunStats {
    RunStats {
        complete: Tally {
            checkpoints: 2,
            bytes: 2048,
        },
        in_progress: Tally {
            checkpoints: 1,
            bytes: 10,
        },
        held: true,
        deleted: 3,
        freed_bytes: 3072,
        last_pass: Some(at(1_700_000_000)),
        last_deletion: None,
        ..RunStats::new("hf", run)
    }
}

fn snapshot() -> Snapshot {
    Snapshot {
        version: "0.1.0".into(),
        runs: vec![run("/data/runs/a")],
        filesystems: vec![
            FsStats {
                path: "/data".into(),
                space: Some(FsState {
                    total_bytes: 1000,
                    free_bytes: 50,
                    total_inodes: 100,
                    free_inodes: 90,
                }),
                target: Some(TargetStats {
                    want_free_bytes: 100,
                    want_free_inodes: 0,
                    missing_bytes: 50,
                    missing_inodes: 0,
                    missing_after_pressure_bytes: 20,
                }),
            },
            FsStats {
                path: "/scratch".into(),
                space: None,
                target: None,
            },
        ],
        last_pass: Some(at(1_700_000_001)),
        last_rescan: Some(at(1_700_000_002)),
        rescan_interval: Duration::from_mins(5),
        errors: 4,
        warnings: 5,
    }
}

/// The sample lines (no comments) of `text`.
fn samples(text: &str) -> Vec<&str> {
    text.lines().filter(|l| !l.starts_with('#')).collect()
}

#[test]
fn every_value_is_rendered_under_its_name_and_labels() {
    let text = render(&snapshot());
    let lines = samples(&text);
    let labels = r#"watch="hf",run="/data/runs/a""#;
    for expected in [
        r#"ckptd_build_info{version="0.1.0"} 1"#.to_owned(),
        "ckptd_runs 1".into(),
        "ckptd_rescan_interval_seconds 300".into(),
        "ckptd_last_rescan_timestamp_seconds 1700000002.250".into(),
        "ckptd_last_pass_timestamp_seconds 1700000001.250".into(),
        "ckptd_errors_total 4".into(),
        "ckptd_warnings_total 5".into(),
        format!(r#"ckptd_run_checkpoints{{{labels},state="complete"}} 2"#),
        format!(r#"ckptd_run_checkpoints{{{labels},state="in_progress"}} 1"#),
        format!(r#"ckptd_run_checkpoint_bytes{{{labels},state="complete"}} 2048"#),
        format!(r#"ckptd_run_checkpoint_bytes{{{labels},state="in_progress"}} 10"#),
        format!("ckptd_run_held{{{labels}}} 1"),
        format!("ckptd_run_deleted_checkpoints_total{{{labels}}} 3"),
        format!("ckptd_run_freed_bytes_total{{{labels}}} 3072"),
        format!("ckptd_run_last_pass_timestamp_seconds{{{labels}}} 1700000000.250"),
        r#"ckptd_filesystem_free_bytes{filesystem="/data"} 50"#.into(),
        r#"ckptd_filesystem_size_bytes{filesystem="/data"} 1000"#.into(),
        r#"ckptd_filesystem_free_inodes{filesystem="/data"} 90"#.into(),
        r#"ckptd_filesystem_inodes{filesystem="/data"} 100"#.into(),
        r#"ckptd_filesystem_target_met{filesystem="/data"} 0"#.into(),
        r#"ckptd_filesystem_target_free_bytes{filesystem="/data"} 100"#.into(),
        r#"ckptd_filesystem_target_free_inodes{filesystem="/data"} 0"#.into(),
        r#"ckptd_filesystem_missing_bytes{filesystem="/data"} 50"#.into(),
        r#"ckptd_filesystem_missing_inodes{filesystem="/data"} 0"#.into(),
        r#"ckptd_filesystem_missing_after_pressure_bytes{filesystem="/data"} 20"#.into(),
    ] {
        assert!(
            lines.contains(&expected.as_str()),
            "{expected}\nnot in:\n{text}"
        );
    }
    // 7 daemon, 8 run, 4 space and 6 target samples; nothing for /scratch, unmeasured.
    assert_eq!(lines.len(), 7 + 8 + 4 + 6, "{text}");
    assert!(!text.contains("/scratch"), "{text}");
}

#[test]
fn each_family_has_help_and_type_once_before_its_samples() {
    let text = render(&snapshot());
    let mut declared: Vec<(String, String)> = Vec::new();
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix("# HELP ") {
            let name = rest.split(' ').next().unwrap();
            assert!(!declared.iter().any(|(n, _)| n == name), "{name} twice");
            declared.push((name.to_owned(), String::new()));
        } else if let Some(rest) = line.strip_prefix("# TYPE ") {
            let (name, kind) = rest.split_once(' ').unwrap();
            let last = declared.last_mut().unwrap();
            assert_eq!(last.0, name, "TYPE right after HELP");
            last.1 = kind.to_owned();
        } else {
            let name = line.split(['{', ' ']).next().unwrap();
            let (family, kind) = declared.last().unwrap();
            assert_eq!(family, name, "{line} outside its family");
            assert!(name.starts_with("ckptd_"), "{name}");
            assert_eq!(
                name.ends_with("_total"),
                kind == "counter",
                "{name} is a {kind}"
            );
        }
    }
    assert!(text.ends_with('\n'));
}

#[test]
fn label_values_escape_quotes_backslashes_and_newlines() {
    let mut s = snapshot();
    s.runs = vec![run("/data/runs/a \"b\"\\c\nd")];
    let text = render(&s);
    assert!(
        text.contains(r#"ckptd_run_held{watch="hf",run="/data/runs/a \"b\"\\c\nd"} 1"#),
        "{text}"
    );
    assert_eq!(
        text.lines()
            .filter(|l| l.starts_with("ckptd_run_held"))
            .count(),
        1
    );
}

#[test]
fn a_label_set_is_never_repeated() {
    let mut s = snapshot();
    s.runs = vec![run("/r"), run("/r"), run("/s")];
    s.filesystems.push(s.filesystems[0].clone());
    let text = render(&s);
    let lines = samples(&text);
    let mut unique = lines.clone();
    unique.sort_unstable();
    unique.dedup();
    assert_eq!(unique.len(), lines.len(), "{text}");
    assert_eq!(
        lines
            .iter()
            .filter(|l| l.starts_with("ckptd_run_held"))
            .count(),
        2
    );
}

#[test]
fn a_daemon_that_has_not_looked_yet_leaves_out_what_it_does_not_know() {
    let s = Snapshot {
        version: "0.1.0".into(),
        rescan_interval: Duration::from_mins(5),
        ..Snapshot::default()
    };
    let text = render(&s);
    assert!(!text.contains("timestamp"), "{text}");
    assert!(!text.contains("ckptd_run_"), "{text}");
    assert!(!text.contains("ckptd_filesystem_"), "{text}");
    assert!(text.contains("ckptd_runs 0\n"), "{text}");
    assert!(text.contains("ckptd_errors_total 0\n"), "{text}");
}
