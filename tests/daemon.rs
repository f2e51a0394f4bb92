//! `ckptd run` end to end: the real binary watching real temp directories. Every wait polls
//! the disk or the log with a deadline; nothing relies on a fixed sleep being long enough.

mod common;

use std::io::Write;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::daemon::{wait_until, Daemon};
use common::Fixture;

fn config(f: &Fixture, runs: &str, extra: &str) {
    f.config(&format!(
        "[daemon]\nstate_dir = \"state\"\n\n[[watch]]\nname = \"w\"\nruns = [\"{runs}\"]\nlayout = \"generic\"\npattern = \"ckpt-{{step}}.pt\"\n{extra}"
    ));
}

fn old_checkpoints(f: &Fixture, run: &str, steps: std::ops::RangeInclusive<u64>) {
    for step in steps {
        let name = format!("{run}/ckpt-{step}.pt");
        f.write(&name, vec![0u8; 100]);
        f.age(&name, 1000 - step);
    }
}

/// Checkpoint directories `run/ckpt-<step>` holding `metrics.json` = `{"eval_loss": value}`,
/// the higher the step the newer.
fn json_checkpoints(f: &Fixture, losses: &[(u64, f64)]) {
    for &(step, loss) in losses {
        let dir = format!("run/ckpt-{step}");
        f.write(
            &format!("{dir}/metrics.json"),
            format!("{{\"eval_loss\": {loss}}}"),
        );
        f.age(&dir, 100 - step);
    }
}

/// One watch over `run`, ranking by `metric` read from each checkpoint's `metrics.json`.
fn ranked_by_json(f: &Fixture, daemon_extra: &str, metric: &str) {
    f.config(&format!(
        "[daemon]\nstate_dir = \"state\"\n{daemon_extra}\n[[watch]]\nname = \"w\"\nruns = [\"run\"]\nlayout = \"generic\"\npattern = \"ckpt-{{step}}\"\nkeep_last = 1\nkeep_best = 1\nmetric = \"{metric}\"\nmode = \"min\"\nsettle = \"1s\"\nmetric_source = {{ kind = \"checkpoint_json\", path = \"metrics.json\" }}\n"
    ));
}

fn wait_listing(f: &Fixture, d: &Daemon, run: &str, expected: &[&str]) {
    wait_until(
        &format!("{run} to hold {expected:?}"),
        || f.listing(run) == expected,
        || format!("listing: {:?}\n{}", f.listing(run), d.log()),
    );
}

#[test]
fn a_checkpoint_written_in_chunks_is_never_counted_before_it_is_complete() {
    let f = Fixture::new();
    old_checkpoints(&f, "run", 1..=1);
    config(&f, "run", "keep_last = 1\nsettle = \"2s\"\n");
    let d = Daemon::start(&f, &[]);
    // 8 MiB in 1 MiB chunks, pausing 500 ms (< settle) between chunks.
    let path = f.path("run/ckpt-2.pt");
    let mut file = std::fs::File::create(&path).unwrap();
    for _ in 0..8 {
        file.write_all(&vec![7u8; 1 << 20]).unwrap();
        file.sync_data().unwrap();
        std::thread::sleep(Duration::from_millis(500));
        // The previous checkpoint stays while the new one is being written.
        assert_eq!(f.listing("run"), ["ckpt-1.pt", "ckpt-2.pt"], "{}", d.log());
    }
    drop(file);
    assert!(
        !d.log().contains("checkpoint complete: ckpt-2.pt"),
        "{}",
        d.log()
    );
    wait_listing(&f, &d, "run", &["ckpt-2.pt"]);
    assert_eq!(std::fs::metadata(&path).unwrap().len(), 8 << 20);
    let log = d.log();
    assert!(log.contains("checkpoint complete: ckpt-2.pt"), "{log}");
    assert!(log.contains("checkpoint deleted: ckpt-1.pt"), "{log}");
    assert!(!log.contains("ERROR"), "{log}");
}

#[test]
fn keep_last_two_of_ten_and_never_zero_complete_on_disk() {
    let f = Fixture::new();
    f.mkdir("run");
    config(&f, "run", "keep_last = 2\nsettle = \"1s\"\n");
    let d = Daemon::start(&f, &[]);
    let finished = Arc::new(AtomicUsize::new(0));
    let done = Arc::new(AtomicBool::new(false));
    let observer = {
        let (finished, done, run) = (Arc::clone(&finished), Arc::clone(&done), f.path("run"));
        std::thread::spawn(move || {
            let mut violations = Vec::new();
            while !done.load(Ordering::SeqCst) {
                let upto = finished.load(Ordering::SeqCst);
                if upto > 0 {
                    // Some checkpoint the writer finished must be on disk at every instant.
                    let any = (1..=upto).any(|s| run.join(format!("ckpt-{s}.pt")).exists());
                    if !any {
                        violations.push(upto);
                    }
                }
                std::thread::sleep(Duration::from_millis(5));
            }
            violations
        })
    };
    for step in 1..=10 {
        let mut file = std::fs::File::create(f.path(&format!("run/ckpt-{step}.pt"))).unwrap();
        for _ in 0..4 {
            file.write_all(&vec![1u8; 64 * 1024]).unwrap();
            std::thread::sleep(Duration::from_millis(50));
        }
        drop(file);
        finished.store(step, Ordering::SeqCst);
        std::thread::sleep(Duration::from_millis(300));
    }
    wait_listing(&f, &d, "run", &["ckpt-10.pt", "ckpt-9.pt"]);
    done.store(true, Ordering::SeqCst);
    let violations = observer.join().unwrap();
    assert!(
        violations.is_empty(),
        "no finished checkpoint on disk at {violations:?}\n{}",
        d.log()
    );
    assert!(!d.log().contains("ERROR"), "{}", d.log());
}

#[test]
fn a_run_created_after_start_is_managed_and_a_deleted_run_is_forgotten() {
    let f = Fixture::new();
    f.mkdir("runs");
    config(&f, "runs/*", "keep_last = 1\nsettle = \"1s\"\n");
    let d = Daemon::start(&f, &[]);
    // Built beside, then moved in, like a run directory appearing at once…
    old_checkpoints(&f, "staging/a", 1..=3);
    std::fs::rename(f.path("staging/a"), f.path("runs/a")).unwrap();
    wait_listing(&f, &d, "runs/a", &["ckpt-3.pt"]);
    // …and one created in place.
    f.mkdir("runs/b");
    old_checkpoints(&f, "runs/b", 1..=2);
    wait_listing(&f, &d, "runs/b", &["ckpt-2.pt"]);
    std::fs::remove_dir_all(f.path("runs/a")).unwrap();
    d.wait_log("run directory gone: forgotten");
    let log = d.log();
    assert!(!log.contains("ERROR"), "{log}");
    assert_eq!(d.stop().code(), Some(0));
}

#[test]
fn sighup_keeps_the_old_policy_on_a_broken_config_and_applies_a_valid_one() {
    let f = Fixture::new();
    old_checkpoints(&f, "run", 1..=5);
    config(&f, "run", "keep_last = 3\nsettle = \"1s\"\n");
    let d = Daemon::start(&f, &[]);
    wait_listing(&f, &d, "run", &["ckpt-3.pt", "ckpt-4.pt", "ckpt-5.pt"]);

    let good = std::fs::read_to_string(f.path("ckptd.toml")).unwrap();
    f.config(&good.replace("keep_last = 3", "keep_last = -1"));
    d.signal(rustix::process::Signal::HUP);
    d.wait_log("config reload refused");
    assert!(
        d.log()
            .contains("ckptd.toml:9:13: `keep_last` must be 0 or more"),
        "{}",
        d.log()
    );
    // Still running, still keeping 3.
    old_checkpoints(&f, "run", 6..=6);
    wait_listing(&f, &d, "run", &["ckpt-4.pt", "ckpt-5.pt", "ckpt-6.pt"]);

    f.config(&good.replace("keep_last = 3", "keep_last = 1"));
    d.signal(rustix::process::Signal::HUP);
    d.wait_log("config reloaded");
    wait_listing(&f, &d, "run", &["ckpt-6.pt"]);
    assert_eq!(d.stop().code(), Some(0));
}

#[test]
fn sigterm_exits_zero_promptly() {
    let f = Fixture::new();
    old_checkpoints(&f, "run", 1..=1);
    config(&f, "run", "keep_last = 1\n");
    let d = Daemon::start(&f, &[]);
    let start = Instant::now();
    let status = d.stop();
    assert_eq!(status.code(), Some(0));
    assert!(
        start.elapsed() < Duration::from_secs(5),
        "took {:?}",
        start.elapsed()
    );
}

#[test]
fn trash_left_by_a_killed_process_is_emptied_on_start() {
    let f = Fixture::new();
    old_checkpoints(&f, "run", 1..=1);
    f.write("run/.ckptd-trash/ckpt-0.pt.999.1.0", vec![0u8; 10]);
    config(&f, "run", "keep_last = 1\n");
    let d = Daemon::start(&f, &[]);
    wait_listing(&f, &d, "run", &["ckpt-1.pt"]);
    assert!(
        d.log()
            .contains("removed trash left by an interrupted deletion"),
        "{}",
        d.log()
    );
}

#[test]
fn a_burst_of_thousands_of_files_overflowing_the_queue_converges() {
    let f = Fixture::new();
    f.mkdir("run");
    config(&f, "run", "keep_last = 1\nsettle = \"1s\"\n");
    let d = Daemon::start(&f, &[("CKPTD_EVENT_QUEUE", "8")]);
    for step in 1..=3000 {
        std::fs::write(f.path(&format!("run/ckpt-{step}.pt")), b"x").unwrap();
    }
    wait_listing(&f, &d, "run", &["ckpt-3000.pt"]);
    let log = d.log();
    assert!(
        log.contains("event queue overflowed: rescanning every run"),
        "{log}"
    );
    assert!(!log.contains("ERROR"), "{log}");
}

#[test]
fn watcher_poll_works_end_to_end() {
    let f = Fixture::new();
    f.mkdir("run");
    config(
        &f,
        "run",
        "keep_last = 1\nsettle = \"1s\"\nwatcher = \"poll\"\npoll_interval = \"1s\"\n",
    );
    let d = Daemon::start(&f, &[]);
    assert!(d.log().contains("polled=true"), "{}", d.log());
    old_checkpoints(&f, "run", 1..=3);
    wait_listing(&f, &d, "run", &["ckpt-3.pt"]);
}

#[test]
fn dry_run_watches_log_and_keep_everything() {
    let f = Fixture::new();
    old_checkpoints(&f, "run", 1..=3);
    config(&f, "run", "keep_last = 1\ndry_run = true\n");
    let d = Daemon::start(&f, &[]);
    d.wait_log("dry run: would delete checkpoint: ckpt-1.pt");
    assert_eq!(f.listing("run"), ["ckpt-1.pt", "ckpt-2.pt", "ckpt-3.pt"]);
}

#[test]
fn deletions_reach_the_ledger_and_counters() {
    let f = Fixture::new();
    old_checkpoints(&f, "run", 1..=3);
    config(&f, "run", "keep_last = 1\n");
    let d = Daemon::start(&f, &[]);
    wait_listing(&f, &d, "run", &["ckpt-3.pt"]);
    assert_eq!(d.stop().code(), Some(0));
    let counters: serde_json::Value =
        serde_json::from_slice(&std::fs::read(f.path("state/counters.json")).unwrap()).unwrap();
    assert_eq!(
        counters,
        serde_json::json!({"deletions": 2, "bytes_freed": 200})
    );
    // Each checkpoint seen complete (here, adopted at start with no earlier ledger); each
    // deletion: its intent before the rename, its result after.
    let ledger = std::fs::read_to_string(f.path("state/ledger.jsonl")).unwrap();
    let mut events: Vec<(String, String)> = ledger
        .lines()
        .map(|l| {
            let v: serde_json::Value = serde_json::from_str(l).unwrap();
            (
                v["checkpoint"].as_str().unwrap().to_owned(),
                v["event"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    events.sort();
    let expected: Vec<(String, String)> = [
        ("ckpt-1.pt", "complete"),
        ("ckpt-1.pt", "deleted"),
        ("ckpt-1.pt", "deleting"),
        ("ckpt-2.pt", "complete"),
        ("ckpt-2.pt", "deleted"),
        ("ckpt-2.pt", "deleting"),
        ("ckpt-3.pt", "complete"),
    ]
    .iter()
    .map(|(c, e)| ((*c).to_owned(), (*e).to_owned()))
    .collect();
    assert_eq!(events, expected, "{ledger}");
}

#[test]
fn a_large_backlog_is_worked_off_after_ready_not_before() {
    // Regression (0.1): the first look deleted the whole backlog before READY, so 100,000
    // checkpoints kept the daemon from ever becoming ready within systemd's start timeout.
    // Here each pass may delete for as long as its look took, or the 200 ms floor set below:
    // the rest waits for the run's next passes, which come after READY.
    let f = Fixture::new();
    let total: u64 = 3000;
    for step in 1..=total {
        let name = format!("run/ckpt-{step}.pt");
        f.write(&name, b"x");
        f.age(&name, 10_000 - step);
    }
    config(&f, "run", "keep_last = 1\nsettle = \"1s\"\n");
    let d = Daemon::start(&f, &[("CKPTD_DELETION_SLICE", "200ms")]);
    let newest = format!("ckpt-{total}.pt");
    wait_listing(&f, &d, "run", &[newest.as_str()]);
    let log = d.log();
    let ready = log.find("ckptd ready").unwrap();
    assert!(
        log[ready..].contains("checkpoint deleted"),
        "every deletion came before READY:\n{}",
        &log[ready.saturating_sub(2000)..(ready + 2000).min(log.len())]
    );
    let ledger = std::fs::read_to_string(f.path("state/ledger.jsonl")).unwrap();
    let deleted = ledger
        .lines()
        .filter(|l| l.contains("\"event\":\"deleted\""))
        .count();
    assert_eq!(u64::try_from(deleted).unwrap(), total - 1);
    assert_eq!(log.matches("checkpoint deleted").count(), deleted);
}

#[test]
fn ckptds_own_deletions_do_not_wake_it() {
    // Regression (0.1): moving a checkpoint out of the run raised events that woke the daemon
    // for another pass over the run; at 10,000 runs, ckptd's own actions filled the event
    // queue. Events arrive in order: once the marker file's event is handled, every event of
    // the deletion before it has been handled too.
    let f = Fixture::new();
    old_checkpoints(&f, "run", 1..=1);
    config(&f, "run", "keep_last = 1\nsettle = \"1s\"\n");
    let d = Daemon::start(&f, &[("CKPTD_LOG", "info,ckptd::daemon=debug")]);
    f.write("run/ckpt-2.pt", b"x");
    f.age("run/ckpt-2.pt", 10);
    wait_listing(&f, &d, "run", &["ckpt-2.pt"]);
    f.write("run/notes.txt", b"marker");
    let marker = format!("change at {}", f.path("run/notes.txt").display());
    d.wait_log(&marker);
    let log = d.log();
    let deleted = log.find("checkpoint deleted: ckpt-1.pt").unwrap();
    let after = &log[deleted..];
    assert!(
        !after.contains(&format!("change at {}", f.path("run/ckpt-1.pt").display())),
        "its own deletion woke it:\n{after}"
    );
    assert!(
        log[..deleted].contains(&format!("change at {}", f.path("run/ckpt-2.pt").display())),
        "the trainer's write must wake it:\n{log}"
    );
}

#[test]
fn a_held_run_is_one_error_and_no_deletion_while_checkpoints_come() {
    // DESIGN invariant 9 in the daemon: a typo in `metric` holds the run, with one ERROR, not
    // one per pass or per checkpoint, and nothing is deleted as new checkpoints arrive.
    let f = Fixture::new();
    json_checkpoints(&f, &[(1, 0.1), (2, 0.2), (3, 0.3)]);
    ranked_by_json(&f, "", "eval_los");
    let d = Daemon::start(&f, &[]);
    d.wait_log("keep_best holds run");
    f.write("run/ckpt-4/metrics.json", "{\"eval_loss\": 0.05}");
    f.age("run/ckpt-4", 1);
    d.wait_log("checkpoint complete: ckpt-4");
    let log = d.log();
    assert_eq!(log.matches("keep_best holds run").count(), 1, "{log}");
    assert!(log.contains("did you mean `eval_loss`?"), "{log}");
    assert!(!log.contains("checkpoint deleted"), "{log}");
    assert_eq!(f.listing("run"), ["ckpt-1", "ckpt-2", "ckpt-3", "ckpt-4"]);
}

#[test]
fn checkpoint_complete_names_every_metric_in_the_message_the_fields_and_the_ledger() {
    // Issue 9 item 4: 0.1 said `metric=0.6935` (which metric?) and recorded nothing in the
    // ledger about checkpoints it saw complete.
    let f = Fixture::new();
    json_checkpoints(&f, &[(1, 0.9)]);
    ranked_by_json(&f, "log_format = \"json\"\n", "eval_loss");
    let d = Daemon::start(&f, &[]);
    d.wait_log("run adopted");
    f.write(
        "run/ckpt-2/metrics.json",
        "{\"loss\": 0.3812, \"eval_accuracy\": 0.91, \"eval_loss\": 0.4127}",
    );
    f.age("run/ckpt-2", 1);
    d.wait_log("checkpoint complete: ckpt-2");
    let log = d.log();
    let line: serde_json::Value = log
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .find(|v| {
            v["message"]
                .as_str()
                .is_some_and(|m| m.starts_with("checkpoint complete: ckpt-2"))
        })
        .unwrap_or_else(|| panic!("no JSON line for ckpt-2:\n{log}"));
    let fields = &line;
    assert_eq!(
        fields["message"],
        "checkpoint complete: ckpt-2 (step 2) eval_loss=0.4127 eval_accuracy=0.9100 loss=0.3812: newest-complete,last,best",
        "{line}"
    );
    assert_eq!(fields["metric"], "eval_loss", "{line}");
    assert_eq!(fields["value"], 0.4127, "{line}");
    let metrics: serde_json::Value =
        serde_json::from_str(fields["metrics"].as_str().unwrap()).unwrap();
    assert_eq!(
        metrics,
        serde_json::json!({"eval_accuracy": 0.91, "eval_loss": 0.4127, "loss": 0.3812})
    );
    assert_eq!(d.stop().code(), Some(0));
    // The ledger: ckpt-1 adopted at start (no earlier ledger), ckpt-2 seen completing.
    let ledger = std::fs::read_to_string(f.path("state/ledger.jsonl")).unwrap();
    let complete: Vec<serde_json::Value> = ledger
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
        .filter(|v| v["event"] == "complete")
        .collect();
    assert_eq!(complete.len(), 2, "{ledger}");
    assert_eq!(complete[0]["checkpoint"], "ckpt-1");
    assert_eq!(
        complete[0]["metrics"],
        serde_json::json!({"eval_loss": 0.9})
    );
    assert_eq!(complete[1]["checkpoint"], "ckpt-2");
    assert_eq!(complete[1]["step"], 2);
    assert_eq!(complete[1]["metric"], "eval_loss");
    assert_eq!(complete[1]["value"], 0.4127);
    assert_eq!(complete[1]["metrics"], metrics);
    assert!(complete[1]["completed"].as_u64().is_some(), "{ledger}");
}

#[test]
fn history_reads_back_every_checkpoint_its_metrics_and_its_fate() {
    // Issue 9 item 4: `ckptd history`, from the ledger. 0.1 had no such command.
    let f = Fixture::new();
    json_checkpoints(&f, &[(1, 0.9), (2, 0.5), (3, 0.7)]);
    ranked_by_json(&f, "", "eval_loss");
    let d = Daemon::start(&f, &[]);
    wait_listing(&f, &d, "run", &["ckpt-2", "ckpt-3"]);
    assert_eq!(d.stop().code(), Some(0));
    // Removed by hand: not ckptd's doing, and history says so.
    std::fs::remove_dir_all(f.path("run/ckpt-3")).unwrap();

    let out = f.ckptd(&["history", "--config", "ckptd.toml"]);
    common::assert_success(&out);
    let text = common::stdout(&out);
    assert!(
        text.contains("(watch w): 3 checkpoints seen, 1 deleted"),
        "{text}"
    );
    let row = |name: &str| {
        text.lines()
            .find(|l| l.trim_start().starts_with(&format!("{name} ")))
            .unwrap_or_else(|| panic!("no row for {name}:\n{text}"))
            .to_owned()
    };
    assert!(row("ckpt-1").contains("eval_loss=0.9000"), "{text}");
    assert!(row("ckpt-1").contains("deleted 20"), "{text}");
    assert!(
        row("ckpt-1").contains("older than the last 1; rank 3 of 3 by eval_loss"),
        "{text}"
    );
    assert!(row("ckpt-2").contains(" kept "), "{text}");
    assert!(
        row("ckpt-3").contains(" gone ")
            && row("ckpt-3").ends_with("not on disk, not deleted by ckptd"),
        "{text}"
    );
    // Not a terminal: no plot.
    assert!(!text.contains("against step"), "{text}");

    let out = f.ckptd(&["history", "--config", "ckptd.toml", "--json", "run"]);
    common::assert_success(&out);
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let cps = &doc["runs"][0]["checkpoints"];
    assert_eq!(doc["runs"][0]["metric"], "eval_loss");
    let fates: Vec<(&str, &str)> = cps
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            (
                c["checkpoint"].as_str().unwrap(),
                c["fate"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        fates,
        [
            ("ckpt-1", "deleted"),
            ("ckpt-2", "kept"),
            ("ckpt-3", "gone")
        ]
    );
    assert_eq!(cps[1]["value"], 0.5);
    assert_eq!(cps[1]["metrics"], serde_json::json!({"eval_loss": 0.5}));

    // A run the ledger does not know is said, and exits 1 (nothing found).
    std::fs::create_dir_all(f.path("elsewhere")).unwrap();
    let out = f.ckptd(&["history", "--config", "ckptd.toml", "elsewhere"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(common::stderr(&out).contains("no checkpoint of this run is in the ledger"));
}

#[test]
fn a_metric_that_arrives_after_completion_reaches_the_ledger_and_history() {
    // Safety review of issue 9: a run-level metric logged after the checkpoint settled
    // (TensorBoard flushes every 120 s) left the ledger's line without it for good.
    let f = Fixture::new();
    f.write("run/metrics.jsonl", "");
    f.config(
        "[daemon]\nstate_dir = \"state\"\n\n[[watch]]\nname = \"w\"\nruns = [\"run\"]\nlayout = \"generic\"\npattern = \"ckpt-{step}\"\nkeep_best = 1\nmetric = \"loss\"\nmode = \"min\"\nsettle = \"1s\"\nmetric_source = { kind = \"jsonl\", path = \"metrics.jsonl\" }\n",
    );
    let d = Daemon::start(&f, &[]);
    d.wait_log("ckptd ready");
    f.write("run/ckpt-5/model.bin", b"x");
    d.wait_log("checkpoint complete: ckpt-5 (step 5): newest-complete,metric-pending");
    f.write(
        "run/metrics.jsonl",
        "{\"step\": 5, \"loss\": 0.5, \"acc\": 0.75}\n",
    );
    d.wait_log("metric arrived for checkpoint ckpt-5 (step 5): loss=0.5000 acc=0.7500");
    assert_eq!(d.stop().code(), Some(0));
    let out = f.ckptd(&["history", "--config", "ckptd.toml", "--json"]);
    common::assert_success(&out);
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let ckpt = &doc["runs"][0]["checkpoints"][0];
    assert_eq!(ckpt["checkpoint"], "ckpt-5");
    assert_eq!(ckpt["value"], 0.5, "{doc}");
    assert_eq!(
        ckpt["metrics"],
        serde_json::json!({"acc": 0.75, "loss": 0.5})
    );
}

#[test]
fn status_shows_the_running_daemon_its_last_deletion_pins_and_disks_then_that_it_stopped() {
    let f = Fixture::new();
    old_checkpoints(&f, "run", 1..=4);
    config(&f, "run", "keep_last = 1\nsettle = \"1s\"\n");
    assert!(
        common::stdout(&f.ckptd(&["pin", "--config", "ckptd.toml", "run/ckpt-2.pt"]))
            .contains("pinned")
    );
    let status = |f: &Fixture| -> serde_json::Value {
        let out = f.ckptd(&["status", "--config", "ckptd.toml", "--json"]);
        common::assert_success(&out);
        serde_json::from_str(&common::stdout(&out)).unwrap()
    };
    let before = status(&f);
    assert_eq!(
        before["daemon"]["running"],
        serde_json::Value::Null,
        "{before}"
    );
    assert_eq!(before["runs"][0]["delete"], 2, "{before}");
    assert_eq!(
        before["runs"][0]["pinned"],
        serde_json::json!(["ckpt-2.pt"])
    );
    assert!(
        before["disks"][0]["free_bytes"].as_u64().unwrap() > 0,
        "{before}"
    );

    let d = Daemon::start(&f, &[]);
    wait_until(
        "the two unpinned old checkpoints to go",
        || f.listing("run") == [".ckptd-pins", "ckpt-2.pt", "ckpt-4.pt"],
        || format!("{:?}", f.listing("run")),
    );
    // daemon.json is written at most once a second after the pass.
    let seen = std::cell::RefCell::new(serde_json::Value::Null);
    wait_until(
        "status to show the daemon's deletions",
        || {
            *seen.borrow_mut() = status(&f);
            seen.borrow()["runs"][0]["daemon"]["deleted"] == 2
        },
        || seen.borrow().to_string(),
    );
    let seen = seen.into_inner();
    let daemon = &seen["daemon"];
    assert_eq!(daemon["running"], true, "{seen}");
    assert_eq!(daemon["pid"], d.child.id(), "{seen}");
    assert_eq!(daemon["deletions_total"], 2, "{seen}");
    assert_eq!(daemon["held_runs"], serde_json::json!([]), "{seen}");
    assert!(
        seen["runs"][0]["daemon"]["last_deletion"]
            .as_u64()
            .is_some(),
        "{seen}"
    );
    let text = common::stdout(&f.ckptd(&["status", "--config", "ckptd.toml"]));
    assert!(
        text.contains(&format!("daemon: running (pid {}, ckptd ", d.child.id())),
        "{text}"
    );
    assert!(text.contains("  pinned: ckpt-2.pt\n"), "{text}");
    assert!(
        text.contains("2 deleted, 200 B freed since it started"),
        "{text}"
    );
    assert!(
        text.contains("  all time: 2 checkpoints deleted, 200 B freed"),
        "{text}"
    );

    assert_eq!(d.stop().code(), Some(0));
    let after = status(&f);
    assert_eq!(after["daemon"]["running"], false, "{after}");
    let text = common::stdout(&f.ckptd(&["status", "--config", "ckptd.toml"]));
    assert!(text.contains("daemon: not running (pid "), "{text}");
}

#[test]
fn a_closed_stderr_never_stops_the_daemon_nor_a_deletion() {
    // Issue 10, edges: `ckptd run 2>&1 | head` must not kill ckptd; with nothing to log to it
    // goes on deleting, and its ledger still records every deletion.
    let f = Fixture::new();
    old_checkpoints(&f, "run", 1..=3);
    config(&f, "run", "keep_last = 1\nsettle = \"1s\"\n");
    let (reader, writer) = rustix::pipe::pipe().unwrap();
    drop(reader);
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_ckptd"))
        .args(["run", "--config", "ckptd.toml"])
        .current_dir(f.path(""))
        .env_remove("JOURNAL_STREAM")
        .env_remove("NOTIFY_SOCKET")
        .env("CKPTD_LOG", "debug")
        .stdin(std::process::Stdio::null())
        .stdout(writer.try_clone().unwrap())
        .stderr(writer)
        .spawn()
        .unwrap();
    let alive = |child: &mut std::process::Child| child.try_wait().unwrap().is_none();
    wait_until(
        "the backlog to be deleted",
        || f.listing("run") == ["ckpt-3.pt"] || !alive(&mut child),
        || format!("{:?}", f.listing("run")),
    );
    assert!(alive(&mut child), "ckptd exited: {:?}", child.try_wait());
    f.write("run/ckpt-4.pt", vec![0u8; 100]);
    wait_until(
        "the next checkpoint to be kept alone",
        || f.listing("run") == ["ckpt-4.pt"] || !alive(&mut child),
        || format!("{:?}", f.listing("run")),
    );
    assert!(alive(&mut child), "ckptd exited: {:?}", child.try_wait());
    let pid = rustix::process::Pid::from_raw(i32::try_from(child.id()).unwrap()).unwrap();
    rustix::process::kill_process(pid, rustix::process::Signal::TERM).unwrap();
    assert_eq!(child.wait().unwrap().code(), Some(0));
    let ledger = std::fs::read_to_string(f.path("state/ledger.jsonl")).unwrap();
    let mut deleted: Vec<String> = ledger
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
        .filter(|v| v["event"] == "deleted")
        .map(|v| v["checkpoint"].as_str().unwrap().to_owned())
        .collect();
    deleted.sort();
    assert_eq!(deleted, ["ckpt-1.pt", "ckpt-2.pt", "ckpt-3.pt"], "{ledger}");
}

#[test]
fn sigterm_while_deleting_large_checkpoints_leaves_each_whole_or_gone() {
    // Issue 10, item 2: SIGTERM while a pass deletes checkpoints of 2,000 files each. The
    // deletion in flight is the rename: whatever the moment, every checkpoint left in the run
    // is whole, ckptd exits 0 promptly, and the next start finishes what is in the trash.
    let f = Fixture::new();
    f.many_file_checkpoints("run", 1..=6, 2000);
    f.config(
        "[daemon]\nstate_dir = \"state\"\n\n[[watch]]\nname = \"w\"\nruns = [\"run\"]\nlayout = \"generic\"\npattern = \"ckpt-{step}\"\nkeep_last = 1\n",
    );
    let d = Daemon::spawn(&f, &[]);
    // As soon as the first deletion is logged, the others are still to come or in flight.
    d.wait_log("checkpoint deleted");
    let start = Instant::now();
    let status = d.stop();
    assert_eq!(status.code(), Some(0));
    assert!(
        start.elapsed() < Duration::from_secs(5),
        "took {:?}",
        start.elapsed()
    );
    let whole = |name: &str| f.entries(&format!("run/{name}"));
    for name in f.listing("run") {
        if name.starts_with("ckpt-") {
            assert_eq!(whole(&name), 2000, "{name} is not whole");
        }
    }
    assert!(f.listing("run").contains(&"ckpt-6".to_owned()));
    // The next start finishes the job: one checkpoint, no trash.
    let d = Daemon::start(&f, &[]);
    wait_listing(&f, &d, "run", &["ckpt-6"]);
    assert_eq!(whole("ckpt-6"), 2000);
    assert_eq!(d.stop().code(), Some(0));
}

#[test]
fn a_run_under_a_directory_that_cannot_be_read_keeps_its_state_and_resumes() {
    // Issue 10, item 2: a directory above a run that the daemon (unprivileged here: root reads
    // everything) cannot read for a while is not "run gone": a WARN says so, nothing is done
    // in the run meanwhile, and it resumes with what the daemon knew (no second adoption).
    let f = Fixture::new();
    let chown_nobody = |relative: &str| {
        let status = std::process::Command::new("chown")
            .args(["-R", "65534:65534"])
            .arg(f.path(relative))
            .status()
            .unwrap();
        assert!(status.success());
    };
    old_checkpoints(&f, "groups/a/run1", 1..=2);
    f.mkdir("state");
    chown_nobody("groups/a/run1");
    chown_nobody("state");
    f.config("[daemon]\nstate_dir = \"state\"\nrescan_interval = \"1s\"\n\n[[watch]]\nname = \"w\"\nruns = [\"groups/*/*\"]\nlayout = \"generic\"\npattern = \"ckpt-{step}.pt\"\nkeep_last = 1\nsettle = \"1s\"\n");
    let mode = |relative: &str, mode: u32| {
        std::fs::set_permissions(
            f.path(relative),
            std::os::unix::fs::PermissionsExt::from_mode(mode),
        )
        .unwrap();
    };
    mode(".", 0o755);
    let as_nobody = [
        "setpriv",
        "--reuid=65534",
        "--regid=65534",
        "--clear-groups",
    ];
    if std::process::Command::new("setpriv")
        .arg("--version")
        .output()
        .is_err()
    {
        eprintln!("skipped: setpriv (util-linux) is not installed");
        return;
    }
    let d = Daemon::spawn_under(&f, &[], &as_nobody);
    wait_until(
        "the daemon to be ready",
        || d.log().contains("ckptd ready") || d.log().contains("setpriv:"),
        || d.log(),
    );
    if d.log().contains("setpriv:") {
        eprintln!(
            "skipped: cannot run ckptd as nobody with setpriv:\n{}",
            d.log()
        );
        return;
    }
    wait_listing(&f, &d, "groups/a/run1", &["ckpt-2.pt"]);
    mode("groups/a", 0o000);
    d.wait_log("nothing is done in the run until it can be read");
    // A save made while the run could not be found is planned once it can be.
    f.write("groups/a/run1/ckpt-3.pt", vec![0u8; 100]);
    f.age("groups/a/run1/ckpt-3.pt", 1);
    chown_nobody("groups/a/run1");
    mode("groups/a", 0o755);
    d.wait_log("run readable again: managing it as before");
    wait_listing(&f, &d, "groups/a/run1", &["ckpt-3.pt"]);
    let log = d.log();
    assert_eq!(log.matches("managing run").count(), 1, "{log}");
    assert_eq!(log.matches("run adopted").count(), 1, "{log}");
    assert!(!log.contains("run directory gone"), "{log}");
    assert_eq!(d.stop().code(), Some(0));
}
