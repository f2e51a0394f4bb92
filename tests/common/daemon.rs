//! A running `ckptd run` for end-to-end tests, and waiting on conditions with a deadline.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use super::Fixture;

pub const DEADLINE: Duration = Duration::from_mins(1);

/// A running `ckptd run`, its stderr captured in a file.
pub struct Daemon {
    pub child: Child,
    pub log: PathBuf,
}

impl Daemon {
    pub fn start(f: &Fixture, env: &[(&str, &str)]) -> Self {
        let daemon = Self::spawn(f, env);
        daemon.wait_log("ckptd ready");
        daemon
    }

    /// Starts `ckptd run` without waiting for it to be ready.
    pub fn spawn(f: &Fixture, env: &[(&str, &str)]) -> Self {
        Self::spawn_under(f, env, &[])
    }

    /// Starts `ckptd run` through `wrapper` (a command that execs its last argument, such as
    /// `setpriv --reuid=65534 …`: the pid is then ckptd's own), without waiting.
    pub fn spawn_under(f: &Fixture, env: &[(&str, &str)], wrapper: &[&str]) -> Self {
        let log = f.path("daemon.log");
        let bin = env!("CARGO_BIN_EXE_ckptd");
        let mut command = match wrapper.split_first() {
            Some((program, args)) => {
                let mut command = Command::new(program);
                command.args(args).arg(bin);
                command
            }
            None => Command::new(bin),
        };
        command
            .args(["run", "--config", "ckptd.toml"])
            .current_dir(f.dir.path())
            .env_remove("JOURNAL_STREAM")
            .env_remove("NOTIFY_SOCKET")
            .env("CKPTD_LOG", "info")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap());
        for (k, v) in env {
            command.env(k, v);
        }
        Self {
            child: command.spawn().unwrap(),
            log,
        }
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    pub fn wait_log(&self, needle: &str) {
        wait_until(
            &format!("log line {needle:?}"),
            || self.log().contains(needle),
            || self.log(),
        );
    }

    pub fn signal(&self, signal: rustix::process::Signal) {
        let pid = rustix::process::Pid::from_raw(i32::try_from(self.child.id()).unwrap()).unwrap();
        rustix::process::kill_process(pid, signal).unwrap();
    }

    /// SIGTERM, then the exit status, which must come within a few seconds.
    pub fn stop(mut self) -> std::process::ExitStatus {
        self.signal(rustix::process::Signal::TERM);
        let start = Instant::now();
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status;
            }
            assert!(
                start.elapsed() < Duration::from_secs(10),
                "no exit 10 s after SIGTERM:\n{}",
                self.log()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub fn wait_until(what: &str, mut condition: impl FnMut() -> bool, context: impl Fn() -> String) {
    let start = Instant::now();
    while !condition() {
        assert!(
            start.elapsed() < DEADLINE,
            "timed out waiting for {what}\n{}",
            context()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}
