//! Regression tests from fault injection: a checkpoint rewritten in place, a storage clock
//! behind ours, kill -9 during deletions, two daemons on one state directory, a FIFO as the
//! config, and trash that could not be removed. Each one lost data or hung in 0.1.

mod common;

use std::io::Write;
use std::process::Command;
use std::time::Duration;

use common::daemon::{wait_until, Daemon};
use common::Fixture;

fn config(f: &Fixture, pattern: &str, extra: &str) {
    f.config(&format!(
        "[daemon]\nstate_dir = \"state\"\nrescan_interval = \"1h\"\n\n[[watch]]\nname = \"w\"\nruns = [\"run\"]\nlayout = \"generic\"\npattern = \"{pattern}\"\n{extra}"
    ));
}

fn mkfifo(path: &std::path::Path) {
    rustix::fs::mknodat(
        rustix::fs::CWD,
        path,
        rustix::fs::FileType::Fifo,
        rustix::fs::Mode::from_raw_mode(0o644),
        0,
    )
    .unwrap();
}

fn exists(f: &Fixture, relative: &str) -> bool {
    f.path(relative).exists()
}

#[test]
fn a_checkpoint_rewritten_in_place_is_incomplete_while_its_writer_pauses() {
    // ckpt-200 is the highest step, ckpt-100 the latest written (a trainer that restarted at a
    // lower step): both are kept as newest. Then ckpt-200 is re-saved in place: truncated,
    // half written, and the writer pauses with the file open for longer than `settle`. If the
    // half-written file counted as complete it would be the newest by step and by time, and
    // ckpt-100, the only complete checkpoint, would go.
    let f = Fixture::new();
    f.write("run/ckpt-200.pt", vec![1u8; 4096]);
    f.age("run/ckpt-200.pt", 10);
    f.write("run/ckpt-100.pt", vec![1u8; 4096]);
    f.age("run/ckpt-100.pt", 5);
    config(&f, "ckpt-{step}.pt", "keep_last = 1\nsettle = \"1s\"\n");
    let d = Daemon::start(&f, &[("CKPTD_LOG", "debug")]);
    assert!(exists(&f, "run/ckpt-100.pt") && exists(&f, "run/ckpt-200.pt"));

    let mut writer = std::fs::OpenOptions::new()
        .write(true)
        .truncate(true)
        .open(f.path("run/ckpt-200.pt"))
        .unwrap();
    writer.write_all(&[2u8; 2048]).unwrap();
    writer.flush().unwrap();
    let paused = std::time::SystemTime::now();
    // The daemon stamps its clock probe (.ckptd.lock) at every pass: wait for passes made
    // well after `settle` had run out with the writer still paused.
    let passed_after_settle = || {
        std::fs::metadata(f.path("run/.ckptd.lock"))
            .and_then(|m| m.modified())
            .is_ok_and(|t| t > paused + std::time::Duration::from_millis(2500))
    };
    wait_until(
        "a daemon pass 2.5 s into the pause, or the deletion of ckpt-100",
        || passed_after_settle() || !exists(&f, "run/ckpt-100.pt"),
        || d.log(),
    );
    assert!(
        d.log()
            .contains("checkpoint changed after it was complete (re-saved in place?): ckpt-200.pt is incomplete again"),
        "{}",
        d.log()
    );
    assert!(
        exists(&f, "run/ckpt-100.pt"),
        "the only complete checkpoint was deleted while ckpt-200 was half written:\n{}",
        d.log()
    );

    // The save finishes: now ckpt-200 is the newest complete by step and time.
    writer.write_all(&[2u8; 2048]).unwrap();
    drop(writer);
    wait_until(
        "ckpt-100 to be deleted once the rewrite settled",
        || !exists(&f, "run/ckpt-100.pt"),
        || d.log(),
    );
    assert_eq!(
        std::fs::read(f.path("run/ckpt-200.pt")).unwrap(),
        vec![2u8; 4096]
    );
    let log = d.log();
    assert_eq!(d.stop().code(), Some(0));
    assert_eq!(
        log.matches("checkpoint complete: ckpt-200.pt").count(),
        1,
        "the rewritten checkpoint's completion is logged again:\n{log}"
    );
}

#[test]
fn a_directory_checkpoint_rewritten_in_place_is_noticed_by_its_own_events() {
    // Nothing changes in the run directory itself: only a file deep inside ckpt-200/. The
    // periodic rescan is an hour away, so only the events of the files inside can tell.
    let f = Fixture::new();
    f.write("run/ckpt-200/shard/model.bin", vec![1u8; 1000]);
    f.age("run/ckpt-200", 10);
    f.write("run/ckpt-100/shard/model.bin", vec![1u8; 1000]);
    f.age("run/ckpt-100", 5);
    config(&f, "ckpt-{step}", "keep_last = 1\nsettle = \"1s\"\n");
    let d = Daemon::start(&f, &[]);
    assert!(exists(&f, "run/ckpt-100") && exists(&f, "run/ckpt-200"));
    std::fs::write(f.path("run/ckpt-200/shard/model.bin"), vec![2u8; 1000]).unwrap();
    wait_until(
        "ckpt-100 to be deleted after ckpt-200 was rewritten and settled",
        || !exists(&f, "run/ckpt-100"),
        || d.log(),
    );
    assert!(exists(&f, "run/ckpt-200/shard/model.bin"));
    assert_eq!(d.stop().code(), Some(0));
}

/// libfaketime, which moves this process's clock (not the files'): ckptd then runs ahead of
/// its storage, as it does beside a network filesystem whose clock lags.
fn faketime() -> Option<&'static str> {
    let lib = "/usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1";
    if std::path::Path::new(lib).exists() {
        Some(lib)
    } else {
        eprintln!("skipped: libfaketime is not installed (apt-get install faketime)");
        None
    }
}

/// A writer that saves ckpt-200 in chunks, closing the file after each one (so no open
/// writer is seen), then stops half way, as a save in progress looks between two chunks.
fn half_written_save(f: &Fixture) {
    for _ in 0..4 {
        let mut file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(f.path("run/ckpt-200.pt"))
            .unwrap();
        file.write_all(&[3u8; 1024]).unwrap();
    }
}

#[test]
fn prune_on_a_storage_clock_behind_ours_keeps_the_only_complete_checkpoint() {
    let Some(lib) = faketime() else { return };
    let f = Fixture::new();
    f.write("run/ckpt-100.pt", vec![1u8; 100]);
    f.age("run/ckpt-100.pt", 60);
    config(&f, "ckpt-{step}.pt", "keep_last = 1\nsettle = \"30s\"\n");
    half_written_save(&f);
    // ckptd's clock runs 120 s ahead of the storage's: the save looks two minutes old.
    let out = Command::new(env!("CARGO_BIN_EXE_ckptd"))
        .args(["prune", "--config", "ckptd.toml"])
        .current_dir(f.dir.path())
        .env("LD_PRELOAD", lib)
        .env("FAKETIME", "+120s")
        .env("FAKETIME_DONT_FAKE_MONOTONIC", "1")
        .output()
        .unwrap();
    common::assert_success(&out);
    assert!(
        exists(&f, "run/ckpt-100.pt"),
        "the only complete checkpoint was deleted during a save:\n{}",
        common::stderr(&out)
    );
    // `plan` reads the same clock through the probe `prune` left.
    let plan = Command::new(env!("CARGO_BIN_EXE_ckptd"))
        .args(["plan", "--json", "--config", "ckptd.toml"])
        .current_dir(f.dir.path())
        .env("LD_PRELOAD", lib)
        .env("FAKETIME", "+120s")
        .env("FAKETIME_DONT_FAKE_MONOTONIC", "1")
        .output()
        .unwrap();
    common::assert_success(&plan);
    let json: serde_json::Value = serde_json::from_slice(&plan.stdout).unwrap();
    let rows = common::decisions(&json, 0);
    assert!(
        rows.iter()
            .any(|(name, decision, reasons)| name == "ckpt-200.pt"
                && decision == "keep"
                && reasons == &["incomplete"]),
        "{rows:?}"
    );
}

#[test]
fn the_daemon_on_a_storage_clock_behind_ours_keeps_the_only_complete_checkpoint() {
    let Some(lib) = faketime() else { return };
    let f = Fixture::new();
    f.write("run/ckpt-100.pt", vec![1u8; 100]);
    f.age("run/ckpt-100.pt", 60);
    config(&f, "ckpt-{step}.pt", "keep_last = 1\nsettle = \"30s\"\n");
    half_written_save(&f);
    let d = Daemon::start(
        &f,
        &[
            ("LD_PRELOAD", lib),
            ("FAKETIME", "+120s"),
            ("FAKETIME_DONT_FAKE_MONOTONIC", "1"),
        ],
    );
    // Its first look is done by "ready"; a deletion would have happened in it.
    let log = d.log();
    assert_eq!(d.stop().code(), Some(0));
    assert!(exists(&f, "run/ckpt-100.pt"), "{log}");
    assert!(log.contains("1 complete checkpoints"), "{log}");
}

#[test]
fn every_deletion_is_in_the_ledger_after_kill_9() {
    let f = Fixture::new();
    for step in 1..=300 {
        let name = format!("run/ckpt-{step}.pt");
        f.write(&name, b"x");
        f.age(&name, 1000 - step);
    }
    config(&f, "ckpt-{step}.pt", "keep_last = 1\n");
    let mut d = Daemon::spawn(&f, &[]);
    let count = |f: &Fixture| {
        f.listing("run")
            .iter()
            .filter(|n| n.starts_with("ckpt-"))
            .count()
    };
    // Killed in the middle of its deletions.
    wait_until("deletions to start", || count(&f) < 250, || d.log());
    d.child.kill().unwrap();
    d.child.wait().unwrap();
    let gone_at_kill: Vec<u64> = (1..=300)
        .filter(|s| !exists(&f, &format!("run/ckpt-{s}.pt")))
        .collect();
    let ledger = std::fs::read_to_string(f.path("state/ledger.jsonl")).unwrap_or_default();
    for step in &gone_at_kill {
        assert!(
            ledger.contains(&format!("\"checkpoint\":\"ckpt-{step}.pt\"")),
            "ckpt-{step}.pt was deleted but the ledger does not say so"
        );
    }
    // A restart finishes the job; every deletion then has its intent and its result (or, for
    // the one caught between rename and removal, the trash removal).
    let d = Daemon::start(&f, &[]);
    wait_until("the rest to be deleted", || count(&f) == 1, || d.log());
    assert_eq!(d.stop().code(), Some(0));
    let ledger = std::fs::read_to_string(f.path("state/ledger.jsonl")).unwrap();
    for step in 1..300 {
        assert!(
            ledger.contains(&format!("\"checkpoint\":\"ckpt-{step}.pt\"")),
            "ckpt-{step}.pt missing from the ledger"
        );
    }
}

#[test]
fn a_second_daemon_on_the_same_state_directory_refuses_to_start() {
    let f = Fixture::new();
    config(&f, "ckpt-{step}.pt", "keep_last = 1\n");
    f.mkdir("run");
    let first = Daemon::start(&f, &[]);
    let second = f.ckptd_within(&["run", "--config", "ckptd.toml"], Duration::from_secs(30));
    assert_eq!(second.status.code(), Some(1));
    let err = common::stderr(&second);
    assert!(
        err.contains("is in use by another running ckptd") && err.contains("state_dir"),
        "{err}"
    );
    assert_eq!(first.stop().code(), Some(0));
}

#[test]
fn a_fifo_as_the_config_is_refused_on_sighup_and_the_daemon_goes_on() {
    let f = Fixture::new();
    f.write("run/ckpt-1.pt", b"x");
    f.age("run/ckpt-1.pt", 10);
    config(&f, "ckpt-{step}.pt", "keep_last = 1\nsettle = \"1s\"\n");
    let d = Daemon::start(&f, &[]);
    std::fs::remove_file(f.path("ckptd.toml")).unwrap();
    mkfifo(&f.path("ckptd.toml"));
    d.signal(rustix::process::Signal::HUP);
    d.wait_log("config reload refused");
    assert!(
        d.log().contains("a FIFO, not a regular file"),
        "{}",
        d.log()
    );
    // Still acting on its runs.
    f.write("run/ckpt-2.pt", b"x");
    wait_until(
        "ckpt-1 to be deleted after the refused reload",
        || !exists(&f, "run/ckpt-1.pt"),
        || d.log(),
    );
    assert_eq!(d.stop().code(), Some(0));
}

#[test]
fn a_fifo_as_the_config_is_refused_at_start_without_blocking() {
    let f = Fixture::new();
    mkfifo(&f.path("ckptd.toml"));
    let out = f.ckptd_within(
        &["check", "--config", "ckptd.toml"],
        Duration::from_secs(30),
    );
    assert_eq!(out.status.code(), Some(2));
    assert!(common::stdout(&out).contains("a FIFO") || common::stderr(&out).contains("a FIFO"));
}

#[test]
fn trash_that_could_not_be_removed_is_retried_on_a_timer() {
    // A filesystem mounted inside a checkpoint is not the checkpoint's: removal stops there
    // and the rest waits in the trash. Once it is unmounted, and with nothing else happening
    // in the run, the daemon's retry timer finishes the removal.
    let f = Fixture::new();
    f.write("run/ckpt-1/model.bin", vec![1u8; 100]);
    f.write("run/ckpt-2/model.bin", vec![1u8; 100]);
    let Some(inner) = common::mount::Mount::tmpfs(&f.path("run/ckpt-1/mnt"), "size=64k") else {
        return;
    };
    std::fs::write(inner.path.join("precious"), b"not the checkpoint's").unwrap();
    f.age("run/ckpt-1", 10);
    f.age("run/ckpt-2", 5);
    config(&f, "ckpt-{step}", "keep_last = 1\nsettle = \"1s\"\n");
    let d = Daemon::start(&f, &[("CKPTD_TRASH_RETRY", "1s")]);
    d.wait_log("but not removed");
    assert!(!exists(&f, "run/ckpt-1"));
    let in_trash: Vec<String> = f.listing("run/.ckptd-trash");
    assert_eq!(in_trash.len(), 1, "{in_trash:?}");
    let mounted_now = f.path(&format!("run/.ckptd-trash/{}/mnt", in_trash[0]));
    assert_eq!(
        std::fs::read(mounted_now.join("precious")).unwrap(),
        b"not the checkpoint's",
        "removal crossed into another filesystem"
    );
    // Unmount at its new place; the guard's own unmount then has nothing to do.
    let status = Command::new("umount").arg(&mounted_now).status().unwrap();
    assert!(status.success());
    wait_until(
        "the trash to be emptied by the retry timer",
        || !exists(&f, "run/.ckptd-trash"),
        || d.log(),
    );
    assert_eq!(f.listing("run"), ["ckpt-2"]);
    assert_eq!(d.stop().code(), Some(0));
    drop(inner);
}

#[test]
fn prune_leaves_a_users_own_trash_like_names_and_is_not_blocked_by_a_fifo_lock() {
    // Names in ckptd's namespace that ckptd did not make are never removed; a FIFO in place
    // of the lock file is an error for that run, not a hang.
    let f = Fixture::new();
    for step in 1..=2 {
        let name = format!("run/ckpt-{step}.pt");
        f.write(&name, b"x");
        f.age(&name, 10 - step);
    }
    f.write("run/.ckptd-trash-notes/important.txt", b"mine");
    f.write("run/.ckptd-trash-readme", b"mine");
    config(&f, "ckpt-{step}.pt", "keep_last = 1\n");
    let out = f.ckptd_within(
        &["prune", "--config", "ckptd.toml"],
        Duration::from_secs(30),
    );
    common::assert_success(&out);
    assert_eq!(
        f.listing("run"),
        [".ckptd-trash-notes", ".ckptd-trash-readme", "ckpt-2.pt"]
    );
    assert_eq!(
        std::fs::read(f.path("run/.ckptd-trash-notes/important.txt")).unwrap(),
        b"mine"
    );

    f.write("run/ckpt-3.pt", b"x");
    f.age("run/ckpt-3.pt", 1);
    std::fs::remove_file(f.path("run/.ckptd.lock")).unwrap();
    mkfifo(&f.path("run/.ckptd.lock"));
    let out = f.ckptd_within(
        &["prune", "--config", "ckptd.toml"],
        Duration::from_secs(30),
    );
    assert_eq!(out.status.code(), Some(1), "{}", common::stderr(&out));
    assert!(
        common::stderr(&out).contains("not a regular file with a single name"),
        "{}",
        common::stderr(&out)
    );
    assert!(
        exists(&f, "run/ckpt-2.pt"),
        "nothing is deleted without the lock"
    );
}

#[test]
fn a_rewrite_in_a_kept_directory_that_is_not_watched_is_seen_at_the_next_rescan() {
    // Only the 8 newest kept directories are watched; an older kept one rewritten in place is
    // found by the periodic rescan, which fingerprints every kept directory.
    let f = Fixture::new();
    for step in 1..=10 {
        let name = format!("run/ckpt-{step}");
        f.write(&format!("{name}/model.bin"), vec![1u8; 100]);
        f.age(&name, 100 - step);
    }
    f.config(
        "[daemon]\nstate_dir = \"state\"\nrescan_interval = \"2s\"\n\n[[watch]]\nname = \"w\"\nruns = [\"run\"]\nlayout = \"generic\"\npattern = \"ckpt-{step}\"\nkeep_last = 10\nsettle = \"1s\"\n",
    );
    let d = Daemon::start(&f, &[]);
    std::fs::write(f.path("run/ckpt-1/model.bin"), vec![2u8; 100]).unwrap();
    // Whether the rescan catches it still settling or already settled, its new completion is
    // logged (nothing changed in the run directory, and its events are not watched).
    d.wait_log("checkpoint complete: ckpt-1 ");
    assert_eq!(f.listing("run").len(), 10);
    assert_eq!(d.stop().code(), Some(0));
}

#[test]
fn prune_as_the_run_owner_works_beside_a_lock_file_root_left() {
    // `sudo ckptd prune` (or the root daemon) leaves a root-owned .ckptd.lock; the training
    // account's own prune then locks it read-only, cannot stamp it (unknown storage clock),
    // and so looks twice, `settle` apart, before deleting.
    if !rustix::process::geteuid().is_root()
        || Command::new("setpriv").arg("--help").output().is_err()
    {
        eprintln!("skipped: needs root and setpriv to act as another user");
        return;
    }
    let f = Fixture::new();
    for step in 1..=2 {
        let name = format!("run/ckpt-{step}.pt");
        f.write(&name, b"x");
        f.age(&name, 10 - step);
    }
    config(&f, "ckpt-{step}.pt", "keep_last = 1\nsettle = \"1s\"\n");
    std::fs::write(f.path("run/.ckptd.lock"), b"").unwrap();
    let nobody = rustix::process::Uid::from_raw(65534);
    for path in [
        f.dir.path().to_owned(),
        f.path("run"),
        f.path("run/ckpt-1.pt"),
        f.path("run/ckpt-2.pt"),
    ] {
        rustix::fs::chown(&path, Some(nobody), None).unwrap();
    }
    let out = Command::new("setpriv")
        .args(["--reuid=65534", "--regid=65534", "--clear-groups", "--"])
        .arg(env!("CARGO_BIN_EXE_ckptd"))
        .args(["prune", "--config", "ckptd.toml"])
        .current_dir(f.dir.path())
        .output()
        .unwrap();
    common::assert_success(&out);
    assert!(
        common::stderr(&out).contains("looking again in 1s"),
        "{}",
        common::stderr(&out)
    );
    assert_eq!(f.listing("run"), ["ckpt-2.pt"]);
}

/// Two old checkpoints, keep_last = 1, settle 1 s: ckpt-2 is the newest and ckpt-1 goes unless
/// ckpt-2 turns out to be open for writing.
fn two_old_checkpoints(f: &Fixture) {
    for step in 1..=2 {
        let name = format!("run/ckpt-{step}.pt");
        f.write(&name, vec![1u8; 100]);
        f.age(&name, 10 - step);
    }
    config(f, "ckpt-{step}.pt", "keep_last = 1\nsettle = \"1s\"\n");
}

/// Waits until `plan` finds ckpt-2.pt open for writing, then checks `prune` keeps ckpt-1.pt.
fn the_writer_is_seen(f: &Fixture) {
    wait_until(
        "plan to find ckpt-2.pt open for writing",
        || {
            common::decisions(&f.plan_json(), 0)
                .iter()
                .any(|(name, decision, reasons)| {
                    name == "ckpt-2.pt" && decision == "keep" && reasons == &["incomplete"]
                })
        },
        || format!("{:?}", common::decisions(&f.plan_json(), 0)),
    );
    f.prune();
    assert_eq!(f.listing("run"), ["ckpt-1.pt", "ckpt-2.pt"]);
}

#[test]
fn a_writer_reaching_the_run_through_a_bind_mount_is_seen() {
    // The writer's /proc/PID/fd path is the bind mount's, not the run's: files are matched by
    // device and inode. It opens the file without writing (mtime stays old): only the
    // open-writer check can tell.
    let f = Fixture::new();
    two_old_checkpoints(&f);
    let Some(bind) = common::mount::Mount::bind(&f.path("run"), &f.path("elsewhere")) else {
        return;
    };
    let writer = std::fs::OpenOptions::new()
        .write(true)
        .open(f.path("elsewhere/ckpt-2.pt"))
        .unwrap();
    the_writer_is_seen(&f);
    drop(writer);
    drop(bind);
}

/// Kills and reaps a child process when the test ends, however it ends.
struct Kill<'a>(&'a mut std::process::Child);

impl Drop for Kill<'_> {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn a_writer_in_another_mount_namespace_is_seen() {
    // A trainer in a container: its own mount namespace, where the run is bind-mounted at a
    // path that does not exist in ours.
    let f = Fixture::new();
    two_old_checkpoints(&f);
    f.mkdir("container-view");
    let child = Command::new("unshare")
        .args(["--mount", "--propagation", "private", "--", "sh", "-c"])
        .arg("mount --bind \"$0\" \"$1\" && exec sleep 120 3>>\"$1/ckpt-2.pt\"")
        .arg(f.path("run"))
        .arg(f.path("container-view"))
        .spawn();
    let Ok(mut child) = child else {
        eprintln!("skipped: unshare is not available");
        return;
    };
    let guard = Kill(&mut child);
    let fd3 = format!("/proc/{}/fd/3", guard.0.id());
    let mut exited = None;
    wait_until(
        "the writer in its namespace to open ckpt-2.pt, or to fail",
        || {
            exited = guard.0.try_wait().unwrap();
            exited.is_some() || std::fs::symlink_metadata(&fd3).is_ok()
        },
        String::new,
    );
    if let Some(status) = exited {
        eprintln!("skipped: unshare --mount is not permitted here ({status})");
        return;
    }
    assert!(
        std::fs::read_dir(f.path("container-view"))
            .unwrap()
            .next()
            .is_none(),
        "the bind mount must exist only in the writer's namespace"
    );
    the_writer_is_seen(&f);
    drop(guard);
}

#[test]
fn an_empty_directory_is_never_the_newest_complete_checkpoint() {
    // A trainer creates ckpt-2/ and has not written into it yet (or died right then).
    let f = Fixture::new();
    f.write("run/ckpt-1/model.bin", vec![1u8; 100]);
    f.age("run/ckpt-1", 20);
    f.mkdir("run/ckpt-2");
    f.age("run/ckpt-2", 10);
    config(&f, "ckpt-{step}", "keep_last = 1\n");
    f.prune();
    assert_eq!(f.listing("run"), ["ckpt-1", "ckpt-2"]);
    let rows = common::decisions(&f.plan_json(), 0);
    assert!(
        rows.iter()
            .any(|(n, d, r)| n == "ckpt-2" && d == "keep" && r == &["incomplete"]),
        "{rows:?}"
    );
}

#[test]
fn a_newline_in_a_checkpoint_name_cannot_forge_a_log_line() {
    let f = Fixture::new();
    let forged = "ckpt-1\n2026-01-01T00:00:00.000000Z  INFO checkpoint deleted: ckpt-9.pt";
    for (name, minutes) in [(forged, 20), ("ckpt-2", 10)] {
        f.write(&format!("run/{name}"), b"x");
        f.age(&format!("run/{name}"), minutes);
    }
    config(&f, "ckpt-{step}*", "keep_last = 1\n");
    let out = f.ckptd(&["prune", "--config", "ckptd.toml"]);
    common::assert_success(&out);
    let log = common::stderr(&out);
    assert_eq!(f.listing("run"), ["ckpt-2"]);
    let deleted: Vec<&str> = log
        .lines()
        .filter(|l| l.contains("checkpoint deleted"))
        .collect();
    assert_eq!(deleted.len(), 1, "{log}");
    assert!(deleted[0].contains("ckpt-1\\n2026-01-01"), "{log}");
    assert!(log.lines().all(|l| l.len() <= 2048 + 40), "{log}");
}
