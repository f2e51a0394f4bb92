use std::time::{Duration, Instant};

use super::*;

fn sh(script: &str) -> Vec<String> {
    vec!["/bin/sh".to_owned(), "-c".to_owned(), script.to_owned()]
}

const LONG: Duration = Duration::from_secs(30);

#[test]
fn the_exit_status_the_output_and_the_environment_come_back() {
    let env = vec![("CKPTD_CHECKPOINT".to_owned(), "checkpoint-5".to_owned())];
    let done = run_command(
        &sh("echo \"saw $CKPTD_CHECKPOINT\"; echo oops >&2; exit 3"),
        &env,
        LONG,
        &|| false,
    );
    assert_eq!(done.status, Status::Exited(3));
    assert!(!done.status.success());
    assert_eq!(done.output, "saw checkpoint-5\noops\n");
    assert_eq!(done.last_line(), Some("oops"));
    assert_eq!(done.status.describe(), "exit status 3");

    let ok = run_command(&sh("true"), &[], LONG, &|| false);
    assert!(ok.status.success());
}

#[test]
fn arguments_reach_the_program_as_they_are_with_no_shell_between() {
    let argv = vec![
        "/bin/echo".to_owned(),
        "a b".to_owned(),
        "$(touch /nonexistent-ckptd-test)".to_owned(),
    ];
    let done = run_command(&argv, &[], LONG, &|| false);
    assert_eq!(done.output, "a b $(touch /nonexistent-ckptd-test)\n");
}

#[test]
fn a_hook_past_its_timeout_is_killed_with_what_it_started() {
    let dir = tempfile::tempdir().unwrap();
    let pid_file = dir.path().join("child.pid");
    // The hook starts a child that would outlive it, then hangs.
    let script = format!(
        "sleep 60 & echo $! > {}; echo started; sleep 60",
        pid_file.display()
    );
    let started = Instant::now();
    let done = run_command(&sh(&script), &[], Duration::from_millis(300), &|| false);
    assert_eq!(done.status, Status::TimedOut(Duration::from_millis(300)));
    assert_eq!(done.output, "started\n");
    assert!(
        started.elapsed() < Duration::from_secs(20),
        "{:?}",
        started.elapsed()
    );
    // Its child was in its process group: killed too (gone, or a zombie until reaped).
    let pid = std::fs::read_to_string(&pid_file)
        .unwrap()
        .trim()
        .to_owned();
    let deadline = Instant::now() + Duration::from_secs(10);
    let alive = || {
        std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|stat| {
            !stat
                .rsplit(')')
                .next()
                .unwrap_or("")
                .trim_start()
                .starts_with('Z')
        })
    };
    while alive() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(!alive(), "the hook's child {pid} outlived the timeout");
}

#[test]
fn a_stop_kills_a_running_hook_and_a_missing_program_is_said() {
    let done = run_command(&sh("sleep 60"), &[], LONG, &|| true);
    assert_eq!(done.status, Status::Stopped);

    let done = run_command(&["/nonexistent/ckptd-hook".to_owned()], &[], LONG, &|| {
        false
    });
    assert!(
        matches!(&done.status, Status::NotStarted(e) if e.starts_with("/nonexistent/ckptd-hook: ")),
        "{:?}",
        done.status
    );
}

#[test]
fn output_beyond_the_cap_is_read_and_dropped() {
    let done = run_command(
        &sh("head -c 1000000 /dev/zero | tr '\\0' x; echo; echo end >&2"),
        &[],
        LONG,
        &|| false,
    );
    assert!(done.status.success());
    // stdout cut at the cap, then stderr on a line of its own.
    assert_eq!(done.output.len(), OUTPUT_CAP + "\nend\n".len());
    assert!(done.output.ends_with("end\n"));
}

#[test]
fn a_child_that_leaves_the_group_with_the_pipes_open_does_not_hold_the_hook_up() {
    let dir = tempfile::tempdir().unwrap();
    let pid_file = dir.path().join("escaped.pid");
    // setsid: a new session, so a new process group the timeout cannot reach; it keeps
    // stdout open for a minute.
    let script = format!(
        "setsid sh -c 'echo $$ > {}; sleep 60' & echo hook done",
        pid_file.display()
    );
    let started = Instant::now();
    let done = run_command(&sh(&script), &[], LONG, &|| false);
    assert_eq!(done.status, Status::Exited(0));
    assert_eq!(done.output, "hook done\n");
    // The output's grace period, not the escaped child's minute.
    assert!(
        started.elapsed() < Duration::from_secs(20),
        "{:?}",
        started.elapsed()
    );
    let deadline = Instant::now() + Duration::from_secs(10);
    while !pid_file.exists() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    if let Ok(pid) = std::fs::read_to_string(&pid_file) {
        let pid = pid.trim().parse::<i32>().unwrap();
        let _ = rustix::process::kill_process(
            rustix::process::Pid::from_raw(pid).unwrap(),
            rustix::process::Signal::KILL,
        );
    }
}

#[test]
fn the_reason_is_stderrs_last_line_even_after_stdout_without_a_newline() {
    let done = run_command(
        &sh("printf 'progress 99%%'; echo 'quota exceeded' >&2; exit 2"),
        &[],
        LONG,
        &|| false,
    );
    assert_eq!(done.output, "progress 99%\nquota exceeded\n");
    assert_eq!(done.last_line(), Some("quota exceeded"));
    let quiet = run_command(&sh("echo only stdout; exit 2"), &[], LONG, &|| false);
    assert_eq!(quiet.last_line(), Some("only stdout"));
}

#[test]
fn a_hook_that_leaves_its_group_is_still_killed_at_its_timeout() {
    // The hook moves itself out of the process group the timeout kills: it is killed by its
    // pid.
    let python = "/usr/bin/python3";
    if !std::path::Path::new(python).exists() {
        eprintln!("skipped: no {python}");
        return;
    }
    let argv = vec![
        python.to_owned(),
        "-c".to_owned(),
        // Into its parent's group (a group leader cannot setsid).
        "import os, time; os.setpgid(0, os.getpgid(os.getppid())); time.sleep(60)".to_owned(),
    ];
    let started = Instant::now();
    let done = run_command(&argv, &[], Duration::from_millis(500), &|| false);
    assert_eq!(done.status, Status::TimedOut(Duration::from_millis(500)));
    assert!(
        started.elapsed() < Duration::from_secs(20),
        "{:?}",
        started.elapsed()
    );
}
