//! `on_complete` and `before_delete` end to end: the real binary runs real hook scripts on
//! real temp directories. A veto keeps the checkpoint; the daemon asks again later; a hook
//! that hangs is killed at `hook_timeout` and holds up no other run.

mod common;

use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;

use common::daemon::{wait_until, Daemon};
use common::{stderr, Fixture};

/// A hook script in the fixture: `body` runs under `/bin/sh`.
fn script(f: &Fixture, name: &str, body: &str) -> PathBuf {
    let path = f.write(name, format!("#!/bin/sh\n{body}\n"));
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
    path
}

fn old_checkpoints(f: &Fixture, run: &str, steps: std::ops::RangeInclusive<u64>) {
    for step in steps {
        let name = format!("{run}/ckpt-{step}.pt");
        f.write(&name, vec![0u8; 100]);
        f.age(&name, 1000 - step);
    }
}

/// `run` with checkpoints 1..=`n` and a `before_delete` hook that appends
/// `$CKPTD_CHECKPOINT` to `asked.txt`, then runs `then`; returns that file's path.
fn run_asking(f: &Fixture, n: u64, then: &str) -> PathBuf {
    old_checkpoints(f, "run", 1..=n);
    let asked = f.path("asked.txt");
    let hook = script(
        f,
        "before-delete.sh",
        &format!("echo $CKPTD_CHECKPOINT >> {}; {then}", asked.display()),
    );
    config(
        f,
        &["run"],
        &format!("before_delete = [\"{}\"]\n", hook.display()),
    );
    asked
}

fn config(f: &Fixture, runs: &[&str], hooks: &str) {
    let runs: Vec<String> = runs.iter().map(|r| format!("\"{r}\"")).collect();
    f.config(&format!(
        "[daemon]\nstate_dir = \"state\"\n\n[[watch]]\nname = \"w\"\nruns = [{}]\nlayout = \"generic\"\npattern = \"ckpt-{{step}}.pt\"\nkeep_last = 1\nsettle = \"1s\"\n{hooks}",
        runs.join(", ")
    ));
}

#[test]
fn prune_asks_before_delete_and_a_veto_keeps_that_checkpoint() {
    let f = Fixture::new();
    old_checkpoints(&f, "run", 1..=4);
    let seen = f.path("seen.txt");
    let hook = script(
        &f,
        "before-delete.sh",
        &format!(
            "echo \"$CKPTD_EVENT $CKPTD_WATCH $CKPTD_CHECKPOINT $CKPTD_STEP $CKPTD_BYTES $CKPTD_REASONS $CKPTD_PATH\" >> {}\n\
             if [ \"$CKPTD_CHECKPOINT\" = ckpt-2.pt ]; then echo 'still copying ckpt-2' >&2; exit 3; fi",
            seen.display()
        ),
    );
    config(
        &f,
        &["run"],
        &format!("before_delete = [\"{}\"]\n", hook.display()),
    );
    let out = f.ckptd(&["prune", "--config", "ckptd.toml"]);
    // A veto is a skip, like a checkpoint changed since planning: exit 0, counted.
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(f.listing("run"), ["ckpt-2.pt", "ckpt-4.pt"]);
    let err = stderr(&out);
    let run = f.path("run");
    assert!(
        err.contains(&format!(
            "deletion vetoed by before_delete: ckpt-2.pt in {} kept: exit status 3: still copying ckpt-2",
            run.display()
        )),
        "{err}"
    );
    assert!(
        common::stdout(&out).contains("deleted 2 checkpoints, 200 B freed; 1 skipped, 0 failed"),
        "{}",
        common::stdout(&out)
    );
    let seen = std::fs::read_to_string(&seen).unwrap();
    let lines: Vec<&str> = seen.lines().collect();
    assert_eq!(
        lines,
        [1, 2, 3].map(|s| format!(
            "before-delete w ckpt-{s}.pt {s} 100 unkept {}/ckpt-{s}.pt",
            run.display()
        )),
        "{seen}"
    );

    // `plan` and `prune --dry-run` run no hook.
    std::fs::remove_file(f.path("seen.txt")).unwrap();
    f.ckptd(&["plan", "--config", "ckptd.toml"]);
    f.ckptd(&["prune", "--dry-run", "--config", "ckptd.toml"]);
    assert!(!f.path("seen.txt").exists());
}

#[test]
fn a_before_delete_that_cannot_run_deletes_nothing() {
    let f = Fixture::new();
    old_checkpoints(&f, "run", 1..=3);
    config(
        &f,
        &["run"],
        "before_delete = [\"/nonexistent/ckptd-hook\"]\n",
    );
    let out = f.ckptd(&["prune", "--config", "ckptd.toml"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(f.listing("run"), ["ckpt-1.pt", "ckpt-2.pt", "ckpt-3.pt"]);
    assert!(
        stderr(&out).contains("kept: could not be started: /nonexistent/ckptd-hook: "),
        "{}",
        stderr(&out)
    );
}

#[test]
fn the_daemon_runs_on_complete_once_per_new_checkpoint_and_retries_a_veto() {
    let f = Fixture::new();
    old_checkpoints(&f, "run", 1..=2);
    let completed = f.path("completed.txt");
    let on_complete = script(
        &f,
        "on-complete.sh",
        &format!(
            "echo \"$CKPTD_EVENT $CKPTD_CHECKPOINT $CKPTD_STEP\" >> {}",
            completed.display()
        ),
    );
    let veto = f.path("veto");
    std::fs::write(&veto, "").unwrap();
    let before_delete = script(
        &f,
        "before-delete.sh",
        &format!(
            "if [ -e {} ]; then echo 'upload not done' >&2; exit 1; fi",
            veto.display()
        ),
    );
    config(
        &f,
        &["run"],
        &format!(
            "on_complete = [\"{}\"]\nbefore_delete = [\"{}\"]\n",
            on_complete.display(),
            before_delete.display()
        ),
    );
    let d = Daemon::start(&f, &[("CKPTD_TRASH_RETRY", "300ms")]);
    // Adopted checkpoints are not "seen complete": no on_complete for them. The veto keeps
    // ckpt-1 and is said.
    d.wait_log("deletion vetoed by before_delete: ckpt-1.pt in");
    assert!(
        d.log().contains("kept: exit status 1: upload not done"),
        "{}",
        d.log()
    );
    assert_eq!(f.listing("run"), ["ckpt-1.pt", "ckpt-2.pt"]);

    // A new save: on_complete runs for it, once.
    f.write("run/ckpt-3.pt", vec![0u8; 100]);
    wait_until(
        "on_complete for ckpt-3.pt",
        || std::fs::read_to_string(&completed).is_ok_and(|s| s.contains("complete ckpt-3.pt 3")),
        || d.log(),
    );
    // Vetoed still, asked again on the retry timer: nothing goes while the veto stands.
    assert!(f.path("run/ckpt-1.pt").exists());
    std::fs::remove_file(&veto).unwrap();
    wait_until(
        "ckpt-1 and ckpt-2 deleted once the hook approves",
        || f.listing("run") == ["ckpt-3.pt"],
        || format!("{:?}\n{}", f.listing("run"), d.log()),
    );
    assert_eq!(
        std::fs::read_to_string(&completed).unwrap(),
        "complete ckpt-3.pt 3\n"
    );
    assert!(d.stop().success());
}

#[test]
fn a_hanging_hook_is_killed_at_its_timeout_and_holds_up_no_other_run() {
    let f = Fixture::new();
    old_checkpoints(&f, "slow", 1..=2);
    old_checkpoints(&f, "fast", 1..=2);
    // Hangs for the slow run, approves at once for the fast one.
    let hook = script(
        &f,
        "before-delete.sh",
        "case \"$CKPTD_RUN\" in */slow) echo hanging; sleep 600;; esac",
    );
    config(
        &f,
        &["slow", "fast"],
        &format!(
            "before_delete = [\"{}\"]\nhook_timeout = \"2s\"\n",
            hook.display()
        ),
    );
    let d = Daemon::start(&f, &[("CKPTD_TRASH_RETRY", "1h")]);
    wait_until(
        "the fast run pruned while the slow run's hook hangs",
        || f.listing("fast") == ["ckpt-2.pt"],
        || d.log(),
    );
    assert_eq!(f.listing("slow"), ["ckpt-1.pt", "ckpt-2.pt"]);
    d.wait_log("deletion vetoed by before_delete: ckpt-1.pt in");
    assert!(
        d.log()
            .contains("kept: killed at its timeout of 2s: hanging"),
        "{}",
        d.log()
    );
    assert_eq!(f.listing("slow"), ["ckpt-1.pt", "ckpt-2.pt"]);
    assert!(d.stop().success());
}

#[test]
fn a_veto_stands_until_the_retry_each_checkpoint_is_asked_once_and_said_once() {
    let f = Fixture::new();
    let asked = run_asking(&f, 4, "exit 1");
    let d = Daemon::start(&f, &[("CKPTD_TRASH_RETRY", "1h")]);
    let vetoes = |d: &Daemon| d.log().matches("deletion vetoed by before_delete").count();
    wait_until("three vetoes", || vetoes(&d) == 3, || d.log());
    // A new save makes ckpt-4 deletable: it is asked about; the standing vetoes are not
    // asked or said again, however often the run is woken.
    f.write("run/ckpt-5.pt", vec![0u8; 100]);
    wait_until("the veto of ckpt-4", || vetoes(&d) == 4, || d.log());
    let asked = std::fs::read_to_string(&asked).unwrap();
    let mut names: Vec<&str> = asked.lines().collect();
    names.sort_unstable();
    assert_eq!(
        names,
        ["ckpt-1.pt", "ckpt-2.pt", "ckpt-3.pt", "ckpt-4.pt"],
        "{}",
        d.log()
    );
    assert_eq!(f.listing("run").len(), 5);
    assert!(d.stop().success());
}

#[test]
fn an_approval_from_a_hook_replaced_by_a_reload_is_not_used() {
    let f = Fixture::new();
    old_checkpoints(&f, "run", 1..=2);
    let started = f.path("slow-started");
    let slow_yes = script(
        &f,
        "slow-yes.sh",
        &format!("touch {}; sleep 3; exit 0", started.display()),
    );
    let no = script(&f, "no.sh", "echo 'the new hook says no' >&2; exit 1");
    config(
        &f,
        &["run"],
        &format!("before_delete = [\"{}\"]\n", slow_yes.display()),
    );
    let d = Daemon::start(&f, &[("CKPTD_TRASH_RETRY", "1h")]);
    wait_until("the slow hook to start", || started.exists(), || d.log());
    config(
        &f,
        &["run"],
        &format!("before_delete = [\"{}\"]\n", no.display()),
    );
    d.signal(rustix::process::Signal::HUP);
    d.wait_log("config reloaded");
    d.wait_log("kept: exit status 1: the new hook says no");
    assert_eq!(f.listing("run"), ["ckpt-1.pt", "ckpt-2.pt"], "{}", d.log());
    assert!(!d.log().contains("checkpoint deleted"), "{}", d.log());
    assert!(d.stop().success());
}

#[test]
fn ctrl_c_stops_prune_in_a_hook_and_nothing_more_is_asked_or_deleted() {
    let f = Fixture::new();
    let asked = run_asking(&f, 4, "sleep 60");
    let mut prune = std::process::Command::new(env!("CARGO_BIN_EXE_ckptd"))
        .args(["prune", "--yes", "--config", "ckptd.toml"])
        .current_dir(f.dir.path())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    wait_until("the first hook to run", || asked.exists(), String::new);
    let pid = rustix::process::Pid::from_raw(i32::try_from(prune.id()).unwrap()).unwrap();
    rustix::process::kill_process(pid, rustix::process::Signal::INT).unwrap();
    let started = std::time::Instant::now();
    let out = loop {
        if prune.try_wait().unwrap().is_some() {
            break prune.wait_with_output().unwrap();
        }
        assert!(
            started.elapsed() < std::time::Duration::from_secs(20),
            "prune still running 20 s after SIGINT"
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    };
    assert_eq!(
        out.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(std::fs::read_to_string(&asked).unwrap(), "ckpt-1.pt\n");
    assert_eq!(f.listing("run").len(), 4);
}

#[test]
fn pressure_deletions_wait_for_before_delete_and_each_is_asked_once() {
    let f = Fixture::new();
    old_checkpoints(&f, "run", 1..=4);
    let asked = f.path("asked.txt");
    let hook = script(
        &f,
        "before-delete.sh",
        &format!(
            "echo \"$CKPTD_CHECKPOINT $CKPTD_REASONS\" >> {}",
            asked.display()
        ),
    );
    // A floor no filesystem meets: pressure deletes everything it may (the rules keep all 4),
    // and each deletion waits for the hook's answer, given at another pass than the one
    // pressure ordered it in.
    f.config(&format!(
        "[daemon]\nstate_dir = \"state\"\ndisk_check_interval = \"1s\"\n\n\
         [[filesystem]]\npath = \"run\"\nmin_free = \"99.9%\"\n\n\
         [[watch]]\nname = \"w\"\nruns = [\"run\"]\nlayout = \"generic\"\npattern = \"ckpt-{{step}}.pt\"\n\
         keep_last = 4\nsettle = \"1s\"\nbefore_delete = [\"{}\"]\n",
        hook.display()
    ));
    let d = Daemon::start(&f, &[("CKPTD_TRASH_RETRY", "1h")]);
    wait_until(
        "pressure to delete all but the newest",
        || f.listing("run") == ["ckpt-4.pt"],
        || format!("{:?}\n{}", f.listing("run"), d.log()),
    );
    let asked = std::fs::read_to_string(&asked).unwrap();
    let mut lines: Vec<&str> = asked.lines().collect();
    lines.sort_unstable();
    assert_eq!(
        lines,
        [
            "ckpt-1.pt pressure",
            "ckpt-2.pt pressure",
            "ckpt-3.pt pressure"
        ],
        "{}",
        d.log()
    );
    assert!(d.stop().success());
}

#[test]
fn a_vetoed_checkpoint_is_passed_over_by_pressure_which_takes_the_next() {
    let f = Fixture::new();
    old_checkpoints(&f, "run", 1..=4);
    let hook = script(
        &f,
        "before-delete.sh",
        "if [ \"$CKPTD_CHECKPOINT\" = ckpt-1.pt ]; then echo 'ckpt-1 is still being copied' >&2; exit 1; fi",
    );
    // The rules keep all four (400 B); the budget wants 250 B: two must go. ckpt-1 is refused,
    // so pressure takes ckpt-2 and ckpt-3.
    f.config(&format!(
        "[daemon]\nstate_dir = \"state\"\n\n[[watch]]\nname = \"w\"\nruns = [\"run\"]\n\
         layout = \"generic\"\npattern = \"ckpt-{{step}}.pt\"\nkeep_last = 4\nmax_bytes = 250\n\
         settle = \"1s\"\nbefore_delete = [\"{}\"]\n",
        hook.display()
    ));
    let d = Daemon::start(&f, &[("CKPTD_TRASH_RETRY", "1h")]);
    wait_until(
        "pressure to pass over the vetoed ckpt-1",
        || f.listing("run") == ["ckpt-1.pt", "ckpt-4.pt"],
        || format!("{:?}\n{}", f.listing("run"), d.log()),
    );
    assert_eq!(
        d.log()
            .matches("deletion vetoed by before_delete: ckpt-1.pt")
            .count(),
        1,
        "{}",
        d.log()
    );
    assert!(d.stop().success());
}
