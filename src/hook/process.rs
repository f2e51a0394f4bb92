//! Runs one hook command to its end, its timeout, or ckptd's shutdown: in a process group of
//! its own (so a timeout kills what it started too), stdin from /dev/null, stdout and stderr
//! captured (the first [`OUTPUT_CAP`] bytes of each).

use std::io::Read;
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
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
    /// stdout, then stderr, each cut at [`OUTPUT_CAP`].
    pub output: String,
}

impl Finished {
    /// The last non-empty line of its output, for a one-line WARN.
    pub fn last_line(&self) -> Option<&str> {
        self.output
            .lines()
            .rev()
            .map(str::trim)
            .find(|l| !l.is_empty())
    }
}

/// How often a running hook is checked for its end, its timeout and `stop`.
const TICK: Duration = Duration::from_millis(10);

/// Runs `argv` with `env` added to ckptd's own environment; kills its process group at
/// `timeout`, or as soon as `stop` is set.
pub fn run_command(
    argv: &[String],
    env: &[(String, String)],
    timeout: Duration,
    stop: &AtomicBool,
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
    let (tx, rx) = mpsc::channel();
    for stream in [
        child
            .stdout
            .take()
            .map(|s| Box::new(s) as Box<dyn Read + Send>),
        child
            .stderr
            .take()
            .map(|s| Box::new(s) as Box<dyn Read + Send>),
    ]
    .into_iter()
    .flatten()
    .enumerate()
    {
        let tx = tx.clone();
        std::thread::spawn(move || {
            let (i, mut stream) = stream;
            let _ = tx.send((i, drain(&mut stream)));
        });
    }
    drop(tx);
    let started = Instant::now();
    let pid = child.id();
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => {
                break match (status.code(), status.signal()) {
                    (Some(code), _) => Status::Exited(code),
                    (None, Some(signal)) => Status::Signalled(signal),
                    (None, None) => Status::Signalled(0),
                };
            }
            Ok(None) => {}
            Err(e) => break Status::NotStarted(format!("cannot wait for it: {e}")),
        }
        let killed = if stop.load(Ordering::Relaxed) {
            Some(Status::Stopped)
        } else if started.elapsed() >= timeout {
            Some(Status::TimedOut(timeout))
        } else {
            None
        };
        if let Some(status) = killed {
            kill_group(pid);
            let _ = child.wait();
            break status;
        }
        std::thread::sleep(TICK);
    };
    // Something the hook left running in its group may hold the pipes open: once the output
    // had a second to arrive, it goes too. (Only then: a group with a member left cannot have
    // had its id reused, an empty one could.)
    let mut parts = [Vec::new(), Vec::new()];
    let mut streams = 0;
    let until = Instant::now() + Duration::from_secs(1);
    while let Ok((i, bytes)) = rx.recv_timeout(until.saturating_duration_since(Instant::now())) {
        parts[i] = bytes;
        streams += 1;
    }
    if streams < 2 {
        kill_group(pid);
    }
    let mut output = String::from_utf8_lossy(&parts[0]).into_owned();
    output.push_str(&String::from_utf8_lossy(&parts[1]));
    Finished { status, output }
}

fn not_started(why: &str) -> Finished {
    Finished {
        status: Status::NotStarted(why.to_owned()),
        output: String::new(),
    }
}

/// The first [`OUTPUT_CAP`] bytes of `stream`, reading it to its end.
fn drain(stream: &mut dyn Read) -> Vec<u8> {
    let mut kept = Vec::new();
    let mut buf = [0u8; 8192];
    loop {
        match stream.read(&mut buf) {
            Ok(0) | Err(_) => return kept,
            Ok(n) => {
                let room = OUTPUT_CAP.saturating_sub(kept.len());
                kept.extend_from_slice(&buf[..n.min(room)]);
            }
        }
    }
}

fn kill_group(pid: u32) {
    let Some(pid) = i32::try_from(pid)
        .ok()
        .and_then(rustix::process::Pid::from_raw)
    else {
        return;
    };
    // ESRCH: the group is already gone.
    let _ = rustix::process::kill_process_group(pid, rustix::process::Signal::KILL);
}

#[cfg(test)]
#[path = "process_tests.rs"]
mod tests;
