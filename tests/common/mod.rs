//! The integration-test harness: a fresh temp directory per test, files with chosen ages, and
//! the real `ckptd` binary run against them.

#![allow(dead_code)] // each test file uses a different part of the harness

pub mod daemon;
pub mod moto;
pub mod mount;

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, SystemTime};

use filetime::FileTime;
use serde_json::Value;

pub struct Fixture {
    pub dir: tempfile::TempDir,
}

impl Fixture {
    pub fn new() -> Self {
        Self {
            dir: tempfile::tempdir().expect("temp dir"),
        }
    }

    pub fn path(&self, relative: &str) -> PathBuf {
        self.dir.path().join(relative)
    }

    /// Writes `contents` at `relative`, creating parent directories.
    pub fn write(&self, relative: &str, contents: impl AsRef<[u8]>) -> PathBuf {
        let path = self.path(relative);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, contents).unwrap();
        path
    }

    pub fn mkdir(&self, relative: &str) -> PathBuf {
        let path = self.path(relative);
        std::fs::create_dir_all(&path).unwrap();
        path
    }

    /// Sets the mtime of `relative` and everything inside it to `minutes` minutes ago.
    pub fn age(&self, relative: &str, minutes: u64) {
        let when = SystemTime::now() - Duration::from_secs(minutes * 60);
        set_mtime_tree(&self.path(relative), when);
    }

    /// Directory checkpoints `run/ckpt-<step>` of `files` one-byte files each, the higher
    /// the step the newer (all old): deleting one takes long enough to be interrupted.
    pub fn many_file_checkpoints(
        &self,
        run: &str,
        steps: std::ops::RangeInclusive<u64>,
        files: usize,
    ) {
        for step in steps {
            let dir = format!("{run}/ckpt-{step}");
            let path = self.mkdir(&dir);
            for i in 0..files {
                std::fs::write(path.join(format!("shard-{i:04}.bin")), b"x").unwrap();
            }
            self.age(&dir, 1000 - step);
        }
    }

    /// How many entries the directory `relative` holds (0 when it is gone).
    pub fn entries(&self, relative: &str) -> usize {
        std::fs::read_dir(self.path(relative)).map_or(0, Iterator::count)
    }

    /// Writes the config file and returns its path.
    pub fn config(&self, text: &str) -> PathBuf {
        self.write("ckptd.toml", text)
    }

    /// Runs `ckptd ARGS` with stdin closed.
    pub fn ckptd(&self, args: &[&str]) -> Output {
        Command::new(env!("CARGO_BIN_EXE_ckptd"))
            .args(args)
            .current_dir(self.dir.path())
            .env_remove("CKPTD_LOG")
            .stdin(Stdio::null())
            .output()
            .expect("run ckptd")
    }

    /// Runs `ckptd ARGS` like [`Fixture::ckptd`], but fails the test (killing ckptd) if it has
    /// not exited within `deadline`: for commands that a bug would make hang.
    pub fn ckptd_within(&self, args: &[&str], deadline: Duration) -> Output {
        let out_path = self.path(".ckptd-test-stdout");
        let err_path = self.path(".ckptd-test-stderr");
        let mut child = Command::new(env!("CARGO_BIN_EXE_ckptd"))
            .args(args)
            .current_dir(self.dir.path())
            .env_remove("CKPTD_LOG")
            .stdin(Stdio::null())
            .stdout(std::fs::File::create(&out_path).unwrap())
            .stderr(std::fs::File::create(&err_path).unwrap())
            .spawn()
            .expect("run ckptd");
        let start = std::time::Instant::now();
        let status = loop {
            if let Some(status) = child.try_wait().unwrap() {
                break status;
            }
            if start.elapsed() > deadline {
                let _ = child.kill();
                let _ = child.wait();
                panic!(
                    "ckptd {args:?} still running after {deadline:?}\nstderr:\n{}",
                    std::fs::read_to_string(&err_path).unwrap_or_default()
                );
            }
            std::thread::sleep(Duration::from_millis(20));
        };
        Output {
            status,
            stdout: std::fs::read(&out_path).unwrap_or_default(),
            stderr: std::fs::read(&err_path).unwrap_or_default(),
        }
    }

    /// `ckptd plan --json --config ckptd.toml`, parsed.
    pub fn plan_json(&self) -> Value {
        let out = self.ckptd(&["plan", "--json", "--config", "ckptd.toml"]);
        assert_success(&out);
        serde_json::from_slice(&out.stdout).expect("plan --json prints JSON")
    }

    /// `ckptd prune --config ckptd.toml`, which must succeed.
    pub fn prune(&self) -> Output {
        let out = self.ckptd(&["prune", "--config", "ckptd.toml"]);
        assert_success(&out);
        out
    }

    /// The names directly inside `relative`, sorted; ckptd's lock file `.ckptd.lock`, which
    /// stays in every run it acted on, is left out.
    pub fn listing(&self, relative: &str) -> Vec<String> {
        let mut names: Vec<String> = std::fs::read_dir(self.path(relative))
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .filter(|name| name != ".ckptd.lock")
            .collect();
        names.sort();
        names
    }
}

pub fn set_mtime_tree(path: &Path, when: SystemTime) {
    let t = FileTime::from_system_time(when);
    if std::fs::symlink_metadata(path).unwrap().is_dir() {
        for entry in std::fs::read_dir(path).unwrap() {
            set_mtime_tree(&entry.unwrap().path(), when);
        }
    }
    filetime::set_symlink_file_times(path, t, t).unwrap();
}

pub fn assert_success(out: &Output) {
    assert!(
        out.status.success(),
        "ckptd failed with {:?}\nstdout:\n{}\nstderr:\n{}",
        out.status.code(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

pub fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

pub fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// `(name, decision, reasons)` of every checkpoint of the run at `index` in a plan document.
pub fn decisions(plan: &Value, index: usize) -> Vec<(String, String, Vec<String>)> {
    plan["runs"][index]["checkpoints"]
        .as_array()
        .expect("checkpoints array")
        .iter()
        .map(|c| {
            (
                c["name"].as_str().unwrap().to_owned(),
                c["decision"].as_str().unwrap().to_owned(),
                c["reasons"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|r| r.as_str().unwrap().to_owned())
                    .collect(),
            )
        })
        .collect()
}

/// Shorthand for an expected decision row.
pub fn row(name: &str, decision: &str, reasons: &[&str]) -> (String, String, Vec<String>) {
    (
        name.to_owned(),
        decision.to_owned(),
        reasons.iter().map(|r| (*r).to_owned()).collect(),
    )
}
