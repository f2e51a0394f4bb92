//! Runs one hook command to its end, its timeout, or ckptd's shutdown: in a process group of
//! its own (so a timeout kills what it started too, unless it left the group), stdin from
//! /dev/null, stdout and stderr captured (the first [`OUTPUT_CAP`] bytes of each).

use std::fs::File;
use std::io::Read;
use std::os::fd::OwnedFd;
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// Output kept per stream; the rest is read and dropped, so the hook never blocks on a full
/// pipe.
pub const OUTPUT_CAP: usize = 16 * 1024;

/// How a hook ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Status {
    Exited(i32),
    Signalled(i32),
    /// Killed at its timeout.
    TimedOut(Duration),
    /// Killed because ckptd is stopping.
    Stopped,
    /// It could not be started (no such program, not executable).
    NotStarted(String),
}

impl Status {
    pub fn success(&self) -> bool {
        *self == Self::Exited(0)
    }

    /// `exit status 3`, `killed at its timeout of 1m`, …
    pub fn describe(&self) -> String {
        match self {
            Self::Exited(code) => format!("exit status {code}"),
            Self::Signalled(signal) => format!("killed by signal {signal}"),
            Self::TimedOut(t) => format!("killed at its timeout of {}", crate::duration::show(*t)),
            Self::Stopped => "killed: ckptd is stopping".to_owned(),
            Self::NotStarted(e) => format!("could not be started: {e}"),
        }
    }
}

/// A hook's end and what it printed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finished {
    pub status: Status,
    /// stdout, then stderr (on a line of its own), each cut at [`OUTPUT_CAP`].
    pub output: String,
    /// Where stderr starts in `output`.
    stderr_from: usize,
}

impl Finished {
    /// The last non-empty line of stderr, else of stdout, for a one-line WARN: a hook says
    /// why it refuses on stderr, whatever it printed before.
    pub fn last_line(&self) -> Option<&str> {
        let (stdout, stderr) = self
            .output
            .split_at(self.stderr_from.min(self.output.len()));
        last_line(stderr).or_else(|| last_line(stdout))
    }
}

fn last_line(text: &str) -> Option<&str> {
    text.lines().rev().map(str::trim).find(|l| !l.is_empty())
}

/// How often a running hook is checked for its end, its timeout and `stop`.
const TICK: Duration = Duration::from_millis(10);

/// How long the output may take to arrive after the hook ended.
const OUTPUT_GRACE: Duration = Duration::from_secs(1);

/// Runs `argv` with `env` added to ckptd's own environment; kills its process group at
/// `timeout`, or as soon as `stop` says so.
///
/// No thread is spawned: the pipes are non-blocking and read between checks, so a process
/// that escapes the group (`setsid`) and keeps them open costs nothing once they are closed
/// here. The hook is not reaped until its group was killed for the last time: while it is a
/// zombie its process group id cannot be reused, so the kill never reaches another group.
pub fn run_command(
    argv: &[String],
    env: &[(String, String)],
    timeout: Duration,
    stop: &dyn Fn() -> bool,
) -> Finished {
    let Some((program, arguments)) = argv.split_first() else {
        return not_started("no command");
    };
    let spawned = Command::new(program)
        .args(arguments)
        .envs(env.iter().map(|(k, v)| (k, v)))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0)
        .spawn();
    let mut child = match spawned {
        Ok(child) => child,
        Err(e) => return not_started(&format!("{program}: {e}")),
    };
    let mut pipes = [
        child.stdout.take().map(|s| File::from(OwnedFd::from(s))),
        child.stderr.take().map(|s| File::from(OwnedFd::from(s))),
    ];
    for pipe in pipes.iter().flatten() {
        let _ = rustix::fs::fcntl_setfl(pipe, rustix::fs::OFlags::NONBLOCK);
    }
    let mut output = [Vec::new(), Vec::new()];
    let started = Instant::now();
    let pid = child.id();
    let killed = loop {
        read_available(&mut pipes, &mut output);
        if exited(pid) {
            break None;
        }
        let kill = if stop() {
            Some(Status::Stopped)
        } else if started.elapsed() >= timeout {
            Some(Status::TimedOut(timeout))
        } else {
            None
        };
        if let Some(status) = kill {
            kill_group(pid);
            break Some(status);
        }
        std::thread::sleep(TICK);
    };
    // Something the hook left running in its group may hold the pipes open: once the output
    // had a moment to arrive, it goes too (the hook, a zombie until reaped below, keeps the
    // group's id from being reused).
    let grace = Instant::now() + OUTPUT_GRACE;
    while pipes.iter().any(Option::is_some) && Instant::now() < grace {
        std::thread::sleep(TICK);
        read_available(&mut pipes, &mut output);
    }
    if pipes.iter().any(Option::is_some) {
        kill_group(pid);
    }
    drop(pipes);
    let reaped = child.wait();
    let status = killed.unwrap_or_else(|| match reaped {
        Ok(status) => match (status.code(), status.signal()) {
            (Some(code), _) => Status::Exited(code),
            (None, Some(signal)) => Status::Signalled(signal),
            (None, None) => Status::Signalled(0),
        },
        Err(e) => Status::NotStarted(format!("cannot wait for it: {e}")),
    });
    let mut text = String::from_utf8_lossy(&output[0]).into_owned();
    if !text.is_empty() && !text.ends_with('\n') && !output[1].is_empty() {
        text.push('\n');
    }
    let stderr_from = text.len();
    text.push_str(&String::from_utf8_lossy(&output[1]));
    Finished {
        status,
        output: text,
        stderr_from,
    }
}

fn not_started(why: &str) -> Finished {
    Finished {
        status: Status::NotStarted(why.to_owned()),
        output: String::new(),
        stderr_from: 0,
    }
}

/// Whether the hook has ended, without reaping it.
fn exited(pid: u32) -> bool {
    let Some(pid) = i32::try_from(pid)
        .ok()
        .and_then(rustix::process::Pid::from_raw)
    else {
        return true;
    };
    let options = rustix::process::WaitIdOptions::EXITED
        | rustix::process::WaitIdOptions::NOHANG
        | rustix::process::WaitIdOptions::NOWAIT;
    // An error (it was reaped already, which cannot happen here) counts as ended.
    !matches!(
        rustix::process::waitid(rustix::process::WaitId::Pid(pid), options),
        Ok(None)
    )
}

/// Reads what each pipe holds now, keeping the first [`OUTPUT_CAP`] bytes of each; a pipe at
/// its end (or failing) is closed.
fn read_available(pipes: &mut [Option<File>; 2], output: &mut [Vec<u8>; 2]) {
    let mut buf = [0u8; 8192];
    for (pipe, kept) in pipes.iter_mut().zip(output.iter_mut()) {
        while let Some(file) = pipe {
            match file.read(&mut buf) {
                Ok(0) => *pipe = None,
                Ok(n) => {
                    let room = OUTPUT_CAP.saturating_sub(kept.len());
                    kept.extend_from_slice(&buf[..n.min(room)]);
                }
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(_) => *pipe = None,
            }
        }
    }
}

/// Kills the hook's process group, and the hook itself, which may have left the group
/// (`setpgid`): it is not reaped yet, so its pid is still its own.
fn kill_group(pid: u32) {
    let Some(pid) = i32::try_from(pid)
        .ok()
        .and_then(rustix::process::Pid::from_raw)
    else {
        return;
    };
    // ESRCH: the group is already gone.
    let _ = rustix::process::kill_process_group(pid, rustix::process::Signal::KILL);
    let _ = rustix::process::kill_process(pid, rustix::process::Signal::KILL);
}

#[cfg(test)]
#[path = "process_tests.rs"]
mod tests;
