//! The daemon's side of its Prometheus metrics (`prometheus`): it folds every pass into each
//! run's figures, notes each rescan, and after a round of passes publishes a fresh
//! [`Snapshot`]: to `metrics_file` (replaced atomically) and to the `/metrics` server. At most
//! once a second: a trainer saving wakes a run every few tens of milliseconds, and a scraper
//! reads every 15 s or more, so rewriting a file of 1,000 runs at every pass would be waste.

use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use tokio::time::Instant;

use super::disk::DiskWatch;
use super::memory::RunMemory;
use crate::config::{DaemonSettings, MetricsSettings};
use crate::pass::{PassReport, Reached};
use crate::prometheus::{self, serve::Server, FsStats, RunStats, Snapshot};

/// The least time between two publications.
const EVERY: Duration = Duration::from_secs(1);

/// What the daemon publishes, and where.
pub struct Exporter {
    file: Option<PathBuf>,
    /// The address asked for, and the server when it could bind it.
    listen: Option<(SocketAddr, Option<Server>)>,
    rescan_interval: Duration,
    /// Per run: its figures and the device it was on at its last planned pass.
    runs: HashMap<PathBuf, (RunStats, Option<u64>)>,
    last_pass: Option<SystemTime>,
    last_rescan: Option<SystemTime>,
    /// Something changed since the last publication.
    dirty: bool,
    published_at: Option<Instant>,
    /// The mount point of each filesystem without a `[[filesystem]]` table, by device.
    mounts: HashMap<u64, PathBuf>,
    /// The last write of the file failed (its ERROR is said once, until a write succeeds).
    file_failing: bool,
    /// The state directory, where `daemon.json` tells `ckptd status` about this daemon.
    state_dir: Option<PathBuf>,
    started_at: SystemTime,
}

impl Exporter {
    /// Starts the server when `metrics_listen` is set. A bind failure is one ERROR naming the
    /// address; the daemon goes on without it.
    pub fn start(settings: &DaemonSettings) -> Self {
        let mut exporter = Self {
            file: None,
            listen: None,
            rescan_interval: settings.rescan_interval,
            runs: HashMap::new(),
            last_pass: None,
            last_rescan: None,
            dirty: false,
            published_at: None,
            mounts: HashMap::new(),
            file_failing: false,
            state_dir: None,
            started_at: SystemTime::now(),
        };
        exporter.configure(&settings.metrics);
        exporter
    }

    /// After a reload: the new file is written from now on; a changed address is bound anew
    /// (the old server stops first).
    pub fn reload(&mut self, settings: &DaemonSettings) {
        self.rescan_interval = settings.rescan_interval;
        self.mounts.clear();
        self.configure(&settings.metrics);
        self.dirty = true;
    }

    fn configure(&mut self, settings: &MetricsSettings) {
        self.file.clone_from(&settings.file);
        if self.listen.as_ref().map(|(addr, _)| *addr) != settings.listen {
            self.listen = None;
            self.listen = settings.listen.map(|addr| (addr, bind(addr)));
        }
    }

    /// Publishes `daemon.json` in `dir` too (whatever the metrics settings).
    pub fn keep_state_in(&mut self, dir: Option<&Path>) {
        self.state_dir = dir.map(Path::to_owned);
        self.dirty = true;
    }

    fn enabled(&self) -> bool {
        self.file.is_some() || self.listen.is_some() || self.state_dir.is_some()
    }

    /// Folds in a pass over `report.run`.
    pub fn after_pass(&mut self, report: &PassReport) {
        if !self.enabled() {
            return;
        }
        let now = SystemTime::now();
        let (stats, dev) = self.runs.entry(report.run.clone()).or_insert_with(|| {
            let run = report.run.display().to_string();
            (RunStats::new(&report.watch.name, &run), None)
        });
        stats.add_pass(report, now);
        if matches!(report.reached, Reached::Planned) {
            *dev = crate::disk::device(&report.run);
        }
        self.last_pass = Some(now);
        self.dirty = true;
    }

    /// The daemon looked at every run (its first look, a periodic rescan, a reload), or
    /// measured its filesystems: worth publishing even if no pass followed.
    pub fn looked(&mut self, rescan: bool) {
        if rescan {
            self.last_rescan = Some(SystemTime::now());
        }
        self.dirty = true;
    }

    /// Publishes now, due or not (at shutdown: `daemon.json` then says when the daemon
    /// stopped).
    pub fn flush(&mut self, runs: &BTreeMap<PathBuf, RunMemory>, disks: &DiskWatch) {
        self.dirty = true;
        self.published_at = None;
        self.publish(runs, disks);
    }

    /// When the next publication is due, if one is.
    pub fn next_publish(&self) -> Option<Instant> {
        if !self.enabled() || !self.dirty {
            return None;
        }
        Some(self.published_at.map_or_else(Instant::now, |at| at + EVERY))
    }

    /// Publishes when due. `runs` are the runs the daemon manages now: a run forgotten or
    /// set aside since its last pass is left out.
    pub fn publish(&mut self, runs: &BTreeMap<PathBuf, RunMemory>, disks: &DiskWatch) {
        let now = Instant::now();
        let due =
            self.enabled() && self.dirty && self.published_at.is_none_or(|at| at + EVERY <= now);
        if !due {
            return;
        }
        self.runs.retain(|run, _| runs.contains_key(run));
        let mut snapshot = Snapshot {
            version: env!("CARGO_PKG_VERSION").to_owned(),
            runs: self.runs.values().map(|(stats, _)| stats.clone()).collect(),
            filesystems: disks.filesystem_stats(),
            last_pass: self.last_pass,
            last_rescan: self.last_rescan,
            rescan_interval: self.rescan_interval,
            errors: prometheus::errors_logged(),
            warnings: prometheus::warnings_logged(),
        };
        snapshot
            .runs
            .sort_by(|a, b| (&a.watch, &a.run).cmp(&(&b.watch, &b.run)));
        snapshot
            .filesystems
            .extend(self.untabled_filesystems(disks));
        let text = prometheus::render(&snapshot);
        if let Some(server) = self.listen.as_ref().and_then(|(_, s)| s.as_ref()) {
            server.publish(&text);
        }
        if let Some(file) = self.file.clone() {
            self.write(&file, &text);
        }
        if let Some(dir) = &self.state_dir {
            let state = crate::daemon_state::DaemonState::from_snapshot(
                &snapshot,
                self.started_at,
                SystemTime::now(),
            );
            if let Err(e) = state.write(dir) {
                // The counters' own write says a full or read-only state directory loudly.
                tracing::debug!(path = %dir.display(), error = %e, "cannot write daemon.json");
            }
        }
        self.published_at = Some(now);
        self.dirty = false;
    }

    /// The filesystems the runs are on that have no `[[filesystem]]` table, each measured
    /// through one of its runs and labelled with its mount point.
    fn untabled_filesystems(&mut self, disks: &DiskWatch) -> Vec<FsStats> {
        let mut by_dev: BTreeMap<u64, &Path> = BTreeMap::new();
        for (run, (_, dev)) in &self.runs {
            if let Some(dev) = dev.filter(|dev| !disks.has_table(*dev)) {
                by_dev.entry(dev).or_insert(run);
            }
        }
        let mut found = Vec::new();
        for (dev, run) in by_dev {
            let mount = self
                .mounts
                .entry(dev)
                .or_insert_with(|| crate::disk::mount_point(run, dev));
            found.push(FsStats {
                path: mount.display().to_string(),
                space: crate::disk::measure(run).ok(),
                target: None,
            });
        }
        found
    }

    fn write(&mut self, file: &Path, text: &str) {
        match prometheus::textfile::write(file, text) {
            Ok(()) if self.file_failing => {
                self.file_failing = false;
                tracing::info!(path = %file.display(), "metrics file {} written again", file.display());
            }
            Ok(()) => {}
            Err(e) if !self.file_failing => {
                self.file_failing = true;
                tracing::error!(path = %file.display(), error = %e, "cannot write metrics file {}: {e}{}; retried after the next pass (under systemd, the directory needs ReadWritePaths=: see systemd/ckptd.service.d/metrics-listen.conf.example)", file.display(), crate::io_hint::hint(&e));
            }
            Err(e) => {
                tracing::debug!(path = %file.display(), error = %e, "cannot write metrics file");
            }
        }
    }
}

/// Binds the server, or says why not (once: at start, or when a reload changes the address).
fn bind(addr: SocketAddr) -> Option<Server> {
    match Server::start(addr) {
        Ok(server) => {
            tracing::info!(address = %server.addr(), "serving metrics at http://{}/metrics", server.addr());
            Some(server)
        }
        Err(e) => {
            tracing::error!(address = %addr, error = %e, "cannot serve metrics on {addr}: {e}; ckptd goes on without /metrics (is another process on that port? under systemd, see systemd/ckptd.service.d/metrics-listen.conf.example)");
            None
        }
    }
}
