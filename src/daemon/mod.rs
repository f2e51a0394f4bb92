//! `ckptd run`: the long-running service.
//!
//! One worker owns all state. Filesystem events (converted at the edge in `events`), timers
//! (settle deadlines, polls, rescans, the systemd watchdog), reloads (a channel fed by
//! SIGHUP) and the shutdown (see `shutdown`) all arrive in one `select!`. Runs are processed
//! one at a time, through the same pass engine as `ckptd prune` (`pass`), so planning and
//! deleting never happen concurrently for a run.

mod changes;
mod discovery;
mod disk;
mod events;
mod exporter;
mod hook_answers;
mod hooks;
pub mod ledger;
mod memory;
mod parents;
pub mod settle;
pub mod signals;
mod systemd;
mod uploads;

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::time::Duration;

use tokio::sync::mpsc;
use tokio::time::Instant;

use crate::config::{Config, WatcherMode};
use crate::pass::Reached;
use crate::report::human_bytes;
use crate::shutdown::Shutdown;
use events::{FsEvent, FsWatcher, INSTANCE_LIMIT_HELP, WATCH_LIMIT_HELP};
use ledger::Ledger;
use memory::RunMemory;
pub use signals::Control;

/// Events within this window are handled in one pass: a trainer writing a file produces many.
const DEBOUNCE: Duration = Duration::from_millis(50);

/// How long the first look at every run may spend deleting before READY is sent: a large
/// backlog is worked off after it, so systemd's start timeout never kills a busy start.
const FIRST_LOOK_DELETIONS: Duration = Duration::from_secs(10);

/// How long the worker works through due runs before it looks at signals and events again
/// (the runs left are still due, and come first next time).
const WORK_ROUND: Duration = Duration::from_secs(1);

/// While the first look lasts, systemd's start timeout is pushed this far ahead every
/// `EXTEND_EVERY` (looking at tens of thousands of runs takes a while).
const EXTEND_BY: Duration = Duration::from_mins(1);
const EXTEND_EVERY: Duration = Duration::from_secs(10);

/// How many of a run's newest kept checkpoint directories are watched (with their
/// subdirectories) for rewrites in place.
const WATCHED_KEPT_DIRS: usize = 8;

/// Errors that stop the daemon (exit 1).
#[derive(Debug, thiserror::Error)]
pub enum DaemonError {
    #[error("cannot start the filesystem watcher: {0}; {help}", help = INSTANCE_LIMIT_HELP)]
    Watcher(#[source] notify::Error),
    #[error(transparent)]
    State(#[from] ledger::StateError),
}

/// Tuning that tests change; production uses the defaults.
#[derive(Debug, Clone, Copy)]
pub struct Options {
    /// Capacity of the event channel; overflow becomes a full rescan.
    pub event_queue: usize,
    /// How soon trash that could not be removed (an immutable file, a busy mount) is tried
    /// again, whether or not anything else happens in its run.
    pub trash_retry: Duration,
    /// The least time one pass may spend deleting (it may spend as long as its look took, so
    /// looking again costs at most half of working off a backlog). The rest of a larger
    /// backlog waits for the run's next pass; other runs, reloads and signals go between.
    pub deletion_slice: Duration,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            event_queue: 4096,
            trash_retry: Duration::from_mins(1),
            deletion_slice: Duration::from_secs(1),
        }
    }
}

struct Daemon {
    config: Config,
    runs: BTreeMap<PathBuf, RunMemory>,
    /// Runs under a directory the globs could not read: what was known of them, until found
    /// again (forgotten on reload).
    set_aside: BTreeMap<PathBuf, RunMemory>,
    /// When each run is due for a pass.
    due: BTreeMap<PathBuf, Instant>,
    /// Directories whose changes may add or remove runs, and how each is to be polled.
    glob_parents: HashMap<PathBuf, discovery::GlobParent>,
    /// Those among them that are polled (events from other nodes never come), with their
    /// stamps.
    polled_parents: parents::PolledParents,
    rediscover: bool,
    next_rescan: Instant,
    watcher: FsWatcher,
    ledger: Ledger,
    shutdown: Shutdown,
    /// Half of `WatchdogSec`, and when the next ping is due.
    watchdog: Option<(Duration, Instant)>,
    /// Runs with deletions deferred to their next pass: due again at once, but after the
    /// runs woken by events.
    backlogged: HashSet<PathBuf>,
    /// During the first look: when it must stop deleting, and when the start timeout is next
    /// extended.
    first_look: Option<(Instant, Instant)>,
    /// The `[[filesystem]]` tables: summaries of the runs on them, checks, orders.
    disks: disk::DiskWatch,
    /// Prometheus metrics: `metrics_file` and `metrics_listen`.
    exporter: exporter::Exporter,
    /// `on_complete` and `before_delete` hooks, run in the background.
    hook_runner: crate::hook::runner::Runner,
    /// Uploads (`upload`), run in the background; reports come back on `upload_reports`.
    uploads: uploads::DaemonUploads,
    upload_reports: mpsc::UnboundedSender<crate::upload::Report>,
    options: Options,
}

/// Runs the daemon until `shutdown` is asked for.
pub async fn run(
    config: Config,
    config_path: PathBuf,
    mut controls: mpsc::Receiver<Control>,
    mut shutdown: Shutdown,
    options: Options,
) -> Result<(), DaemonError> {
    let ledger = Ledger::open(ledger::state_dir(config.daemon.state_dir.as_deref()))?;
    let (watcher, mut events) =
        FsWatcher::start(options.event_queue).map_err(DaemonError::Watcher)?;
    let (hooks_done, mut hook_results) = mpsc::unbounded_channel();
    let hook_runner = crate::hook::runner::Runner::start(&hooks_done);
    let (upload_reports, mut uploaded) = mpsc::unbounded_channel();
    let uploads = uploads::DaemonUploads::start(&config, ledger.dir(), &upload_reports);
    let mut daemon = Daemon::new(
        config,
        watcher,
        ledger,
        shutdown.clone(),
        options,
        hook_runner,
    );
    daemon.uploads = uploads;
    daemon.upload_reports = upload_reports;
    tracing::info!(watches = daemon.config.watches.len(), config = %config_path.display(), "ckptd starting");
    if let Some(idle) = daemon.config.idle_warning() {
        tracing::warn!(config = %config_path.display(), "{idle}");
    }
    daemon.first_look();
    let mut reloads_open = true;
    while !shutdown.requested() {
        let wake = daemon
            .next_wake()
            .min(daemon.watchdog.map_or_else(far_future, |(_, at)| at));
        tokio::select! {
            biased;
            () = shutdown.wait() => break,
            control = controls.recv(), if reloads_open => match control {
                Some(Control::Reload) => daemon.reload(&config_path),
                // The signal thread is gone: no reload will come, but work goes on.
                None => reloads_open = false,
            },
            Some(done) = hook_results.recv() => daemon.hook_done(done),
            Some(report) = uploaded.recv() => {
                if let Some(run) = daemon.uploads.reported(report, &daemon.config) {
                    if daemon.runs.contains_key(&run) {
                        daemon.mark_due(&run, Instant::now());
                    }
                }
            }
            event = events.recv() => {
                if let Some(event) = event {
                    daemon.on_event(event);
                }
                while let Ok(event) = events.try_recv() {
                    daemon.on_event(event);
                }
            }
            () = tokio::time::sleep_until(wake) => {}
        }
        if daemon.watcher.take_overflow() {
            tracing::warn!("event queue overflowed: rescanning every run");
            daemon.rescan_all();
        }
        daemon.work();
        daemon.ping_watchdog();
    }
    systemd::stopping();
    daemon.ledger.save();
    daemon.exporter.flush(&daemon.runs, &daemon.disks);
    let lost = crate::log_line::dropped_lines();
    tracing::info!(lost_log_lines = lost, "ckptd stopped");
    Ok(())
}

/// The WARN for a directory that cannot be watched: the inotify limit's help only when that
/// is the cause.
fn warn_unwatchable(dir: &Path, e: &notify::Error) {
    if matches!(e.kind, notify::ErrorKind::MaxFilesWatch) {
        tracing::warn!(path = %dir.display(), error = %e, help = WATCH_LIMIT_HELP, "cannot watch directory {}: {e}; falling back to polling ({WATCH_LIMIT_HELP})", dir.display());
    } else {
        let hint = match &e.kind {
            notify::ErrorKind::Io(io) => crate::io_hint::hint(io),
            _ => "",
        };
        tracing::warn!(path = %dir.display(), error = %e, "cannot watch directory {}: {e}{hint}; falling back to polling", dir.display());
    }
}

fn far_future() -> Instant {
    Instant::now() + Duration::from_hours(8760)
}

impl Daemon {
    fn new(
        config: Config,
        watcher: FsWatcher,
        ledger: Ledger,
        shutdown: Shutdown,
        options: Options,
        hook_runner: crate::hook::runner::Runner,
    ) -> Self {
        let now = Instant::now();
        let mut exporter = exporter::Exporter::start(&config.daemon);
        exporter.keep_state_in(ledger.dir());
        Self {
            next_rescan: now + config.daemon.rescan_interval,
            disks: disk::DiskWatch::new(&config),
            exporter,
            config,
            runs: BTreeMap::new(),
            set_aside: BTreeMap::new(),
            due: BTreeMap::new(),
            glob_parents: HashMap::new(),
            polled_parents: parents::PolledParents::default(),
            backlogged: HashSet::new(),
            rediscover: true,
            watcher,
            ledger,
            shutdown,
            watchdog: systemd::watchdog_interval().map(|d| (d, now + d)),
            first_look: Some((now + FIRST_LOOK_DELETIONS, now + EXTEND_EVERY)),
            hook_runner,
            uploads: uploads::DaemonUploads::none(),
            upload_reports: mpsc::unbounded_channel().0,
            options,
        }
    }

    /// Every run, looked at once before READY (deleting for at most `FIRST_LOOK_DELETIONS`).
    fn first_look(&mut self) {
        // Expanding the globs over thousands of runs comes before the first pass that extends it.
        systemd::extend_start_timeout(EXTEND_BY);
        self.exporter.looked(true);
        self.discover(true);
        self.work();
        self.first_look = None;
        systemd::ready(&self.status_line());
        tracing::info!(
            runs = self.runs.len(),
            "ckptd ready: {}",
            self.status_line()
        );
    }

    /// Pings the systemd watchdog when due; called between runs too, so a long rescan of
    /// many runs does not look like a hang.
    fn ping_watchdog(&mut self) {
        if let Some((interval, at)) = self.watchdog {
            if Instant::now() >= at {
                systemd::watchdog();
                self.watchdog = Some((interval, Instant::now() + interval));
            }
        }
        if let Some((stop_deleting, extend_at)) = self.first_look {
            if Instant::now() >= extend_at {
                systemd::extend_start_timeout(EXTEND_BY);
                self.first_look = Some((stop_deleting, Instant::now() + EXTEND_EVERY));
            }
        }
    }

    fn next_wake(&self) -> Instant {
        let due = self.due.values().min().copied().unwrap_or_else(far_future);
        let disks = self.disks.next_check().unwrap_or_else(far_future);
        let metrics = self.exporter.next_publish().unwrap_or_else(far_future);
        let parents = self.polled_parents.next_due().unwrap_or_else(far_future);
        due.min(self.next_rescan)
            .min(disks)
            .min(metrics)
            .min(parents)
    }

    fn mark_due(&mut self, run: &Path, at: Instant) {
        if let Some(existing) = self.due.get_mut(run) {
            *existing = (*existing).min(at);
        } else {
            self.due.insert(run.to_owned(), at);
        }
    }

    /// A full pass over every run: after lost events, and on reload.
    fn rescan_all(&mut self) {
        self.rediscover = true;
        let now = Instant::now();
        let runs: Vec<PathBuf> = self.runs.keys().cloned().collect();
        for run in runs {
            self.mark_due(&run, now);
        }
    }

    /// The periodic rescan: globs are expanded again, and a run gets a pass when its
    /// directory changed since its last pass (a child added, removed or renamed: what a lost
    /// event would have said) or when a kept directory checkpoint was rewritten in place (its
    /// events may have been lost too). Settle and metric deadlines are timers. One `stat` per
    /// run, plus a walk of its few kept directories, keeps 1,000 idle runs cheap.
    fn periodic_rescan(&mut self) {
        self.rediscover = true;
        self.exporter.looked(true);
        let now = Instant::now();
        let changed: Vec<PathBuf> = self
            .runs
            .iter()
            .filter(|(run, memory)| {
                memory.dir_stamp.is_none()
                    || memory.dir_stamp != memory::dir_stamp(run)
                    || memory.kept_dirs().any(|(name, seen)| {
                        crate::scan::fingerprint(&run.join(name), crate::checkpoint::Kind::Dir)
                            .ok()
                            .map(|f| f.digest())
                            != Some(seen.tracker.digest())
                    })
            })
            .map(|(run, _)| run.clone())
            .collect();
        for run in changed {
            self.mark_due(&run, now);
        }
    }

    /// Maps a changed path to the runs it concerns.
    fn on_event(&mut self, event: FsEvent) {
        let paths = match event {
            FsEvent::Rescan => {
                self.rescan_all();
                return;
            }
            FsEvent::Changed(paths) => paths,
        };
        let at = Instant::now() + DEBOUNCE;
        for path in paths {
            if events::is_own_file(&path) {
                continue;
            }
            if self.glob_parents.contains_key(&path)
                || path
                    .parent()
                    .is_some_and(|p| self.glob_parents.contains_key(p))
            {
                self.rediscover = true;
            }
            let run = path
                .ancestors()
                .find(|a| self.runs.contains_key(*a))
                .map(Path::to_owned);
            if let Some(run) = run {
                tracing::debug!(run = %run.display(), path = %path.display(), "change at {}: pass due", path.display());
                self.mark_due(&run, at);
            }
            let parent = path.parent().unwrap_or(&path);
            let concerned: Vec<PathBuf> = self
                .runs
                .iter()
                .filter(|(_, m)| m.metric_dirs.iter().any(|d| d == parent))
                .map(|(r, _)| r.clone())
                .collect();
            for run in concerned {
                self.mark_due(&run, at);
            }
        }
    }

    /// Expands the globs again: new runs are adopted, removed ones forgotten, watches updated.
    fn discover(&mut self, report_missing: bool) {
        self.rediscover = false;
        let discovery = crate::runs::discover_all(&self.config, report_missing);
        let found_paths: HashSet<&PathBuf> = discovery.runs.iter().map(|r| &r.path).collect();
        let gone: Vec<PathBuf> = self
            .runs
            .keys()
            .filter(|p| !found_paths.contains(p))
            .cloned()
            .collect();
        for run in gone {
            self.let_go(run, &discovery.unreadable);
        }
        for run in &discovery.runs {
            self.adopt(run);
        }
        // Set aside and not found again: kept only while still under a directory that cannot
        // be read (one deleted meanwhile, or now reached through a symlink, is forgotten).
        self.set_aside.retain(|run, _| {
            let unreadable = discovery.unreadable.iter().any(|d| run.starts_with(d));
            if !unreadable {
                tracing::info!(run = %run.display(), "run directory gone: forgotten");
            }
            unreadable
        });
        self.glob_parents = discovery::glob_parents_of(&self.config);
        self.sync_watches();
        self.poll_parents();
    }

    /// Polls the glob parents that are to be polled, from now on.
    fn poll_parents(&mut self) {
        let polled: BTreeMap<PathBuf, Duration> = self
            .glob_parents
            .iter()
            .filter_map(|(dir, p)| p.polled.then_some((dir.clone(), p.poll_interval)))
            .collect();
        if polled.len() != self.polled_parents.len() {
            tracing::debug!(
                directories = polled.len(),
                "polling {} directories above runs",
                polled.len()
            );
        }
        self.polled_parents.set(polled, Instant::now());
    }

    /// A run the globs no longer find: forgotten, unless a directory above it could not be
    /// read (a permission changed, an I/O error). Then it is set aside with what the daemon
    /// knows of it (settle trackers, what was said), nothing is done in it, and it is resumed
    /// when the globs find it again: through the same checks as any run found (a symlink in
    /// its path, the watch it belongs to now).
    fn let_go(&mut self, run: PathBuf, unreadable: &[PathBuf]) {
        self.due.remove(&run);
        self.backlogged.remove(&run);
        let Some(memory) = self.runs.remove(&run) else {
            return;
        };
        if let Some(dir) = unreadable.iter().find(|d| run.starts_with(d)) {
            tracing::warn!(run = %run.display(), path = %dir.display(), "cannot read {} to find run {}: nothing is done in the run until it can be read, and what ckptd knows of it is kept", dir.display(), run.display());
            self.set_aside.insert(run, memory);
        } else {
            tracing::info!(run = %run.display(), "run directory gone: forgotten");
        }
    }

    /// A run the globs found: adopted (or resumed) and due at once; a known one re-bound to its
    /// watch (a reload may have moved it, or changed `watcher`).
    fn adopt(&mut self, run: &crate::runs::Run) {
        let watch = &self.config.watches[run.watch];
        let network = crate::fs_kind::network_filesystem(&run.path);
        let polled = match watch.watcher {
            WatcherMode::Poll => true,
            WatcherMode::Events => false,
            WatcherMode::Auto => network.is_some(),
        };
        if let Some(memory) = self.runs.get_mut(&run.path) {
            memory.watch = run.watch;
            memory.polled = polled;
            return;
        }
        let memory = if let Some(mut memory) = self.set_aside.remove(&run.path) {
            tracing::info!(run = %run.path.display(), watch = %watch.name, "run readable again: managing it as before");
            memory.watch = run.watch;
            memory.polled = polled;
            memory
        } else {
            if let (Some(fs), WatcherMode::Auto) = (network, watch.watcher) {
                tracing::warn!(run = %run.path.display(), filesystem = fs, poll_interval = %crate::duration::show(watch.poll_interval), "network filesystem ({fs}): writes from other nodes raise no events, so run {} is polled every {}", run.path.display(), crate::duration::show(watch.poll_interval));
            }
            // Its trash is emptied by its first pass, under the run lock.
            tracing::info!(run = %run.path.display(), watch = %watch.name, polled, "managing run");
            RunMemory::new(run.watch, polled)
        };
        self.runs.insert(run.path.clone(), memory);
        self.mark_due(&run.path, Instant::now());
    }

    /// Watches exactly: glob parents, event-driven runs, and their metric log directories.
    /// A glob parent that cannot be watched is polled (see `poll_parents`).
    fn sync_watches(&mut self) {
        let mut wanted: Vec<PathBuf> = self.glob_parents.keys().cloned().collect();
        let mut trees: Vec<PathBuf> = Vec::new();
        for (run, memory) in &self.runs {
            if !memory.polled {
                wanted.push(run.clone());
                wanted.extend(memory.metric_dirs.iter().cloned());
                // The newest are the ones a resumed trainer re-saves; the periodic rescan
                // covers every kept directory, and the cap keeps inotify watches bounded.
                trees.extend(memory.watched_dirs.iter().map(|name| run.join(name)));
            }
        }
        for tree in &trees {
            // A checkpoint may vanish between the pass and here; the rescan covers the rest.
            if let Err(e) = self.watcher.watch_tree(tree) {
                tracing::debug!(path = %tree.display(), error = %e, "cannot watch checkpoint directory: rewrites in place are seen at the next rescan");
            }
        }
        let (mut failed_runs, mut gone_runs) = (Vec::new(), Vec::new());
        for dir in &wanted {
            if let Err(e) = self.watcher.watch(dir) {
                if matches!(e.kind, notify::ErrorKind::PathNotFound) {
                    // Gone since it was found: a run's next pass forgets it.
                    tracing::debug!(path = %dir.display(), "cannot watch directory: it is gone");
                    if self.runs.contains_key(dir) {
                        gone_runs.push(dir.clone());
                    }
                    continue;
                }
                if self.runs.contains_key(dir) {
                    failed_runs.push(dir.clone());
                }
                if let Some(parent) = self.glob_parents.get_mut(dir) {
                    parent.polled = true;
                }
                warn_unwatchable(dir, &e);
            }
        }
        for run in failed_runs {
            if let Some(memory) = self.runs.get_mut(&run) {
                memory.polled = true;
            }
        }
        for run in gone_runs {
            self.mark_due(&run, Instant::now());
        }
        self.watcher
            .retain(&wanted.into_iter().chain(trees).collect());
    }

    /// Handles rediscovery and every run that is due, one at a time.
    fn work(&mut self) {
        let now = Instant::now();
        if now >= self.next_rescan {
            self.next_rescan = now + self.config.daemon.rescan_interval;
            self.periodic_rescan();
        }
        // Stat-first: the globs are expanded again only when a polled parent changed.
        if self.polled_parents.poll(now) {
            self.rediscover = true;
        }
        if self.rediscover {
            self.discover(false);
        }

        // Runs woken by events or timers first, then backlogs; each longest waiting first.
        let mut due: Vec<(bool, Instant, PathBuf)> = self
            .due
            .iter()
            .filter(|(_, at)| **at <= now)
            .map(|(r, at)| (self.backlogged.contains(r), *at, r.clone()))
            .collect();
        due.sort();
        // The round starts after discovery, and makes at least one pass.
        let round = Instant::now();
        let mut changed_watches = false;
        for (passes, (_, _, run)) in due.into_iter().enumerate() {
            if self.shutdown.requested() {
                return;
            }
            // After the first look, back to the loop once a round has taken its time: a
            // reload or another run's event waits for about one pass, not for every due run's.
            if self.first_look.is_none() && passes > 0 && round.elapsed() >= WORK_ROUND {
                break;
            }
            self.due.remove(&run);
            changed_watches |= self.pass(&run);
            self.ping_watchdog();
        }
        if changed_watches {
            self.sync_watches();
        }
        // Measured once every run has had its first pass: a run not yet looked at would
        // count as holding nothing, and a target look unmeetable that is not. Pressure
        // orders go to the runs they concern, due at once.
        if self.runs.keys().all(|run| self.disks.has_looked_at(run)) {
            let now = Instant::now();
            let checked = self.disks.checked_at();
            for run in self.disks.check(now) {
                self.mark_due(&run, now);
            }
            if self.disks.checked_at() != checked {
                self.exporter.looked(false);
            }
        }
        self.exporter.publish(&self.runs, &self.disks);
    }

    /// One pass over `run`; returns true when the set of directories to watch changed.
    fn pass(&mut self, run: &Path) -> bool {
        let Some(memory) = self.runs.get_mut(run) else {
            return false;
        };
        let watch = &self.config.watches[memory.watch];
        let before = (memory.metric_dirs.clone(), memory.watched_dirs.clone());
        let mut hooks = hooks::DaemonHooks {
            memory,
            ledger: &mut self.ledger,
            own_removals: &self.watcher.own_removals,
            slice: hooks::Slice {
                at_least: self.options.deletion_slice,
                not_after: self.first_look.map(|(stop_deleting, _)| stop_deleting),
            },
            only_known_failures: false,
            orders: self.disks.orders_for(run),
            hook_runner: &self.hook_runner,
            hook_retry: self.options.trash_retry,
            veto_lapses: None,
            uploads: &mut self.uploads,
        };
        let report = crate::pass::run(run, watch, &mut hooks, &self.shutdown);
        let only_known_failures = hooks.only_known_failures;
        if matches!(report.reached, Reached::Gone) {
            tracing::info!(run = %run.display(), "run directory gone: forgotten");
            self.runs.remove(run);
            self.uploads.forget_run(run);
            self.disks.forget(run);
            self.backlogged.remove(run);
            return true;
        }
        self.disks.after_pass(&report);
        self.exporter.after_pass(&report);
        let memory = &self.runs[run];
        let changed = (&memory.metric_dirs, &memory.watched_dirs) != (&before.0, &before.1);
        let next = self.next_look(run, &report, only_known_failures);
        if !report.executed.deleted.is_empty() && systemd::active() {
            // Counting polled runs visits every run: only when systemd listens.
            systemd::status(&self.status_line());
        }
        if let Some(at) = next {
            self.mark_due(run, at);
        }
        changed
    }

    /// When `run` is due again after a pass that reported `report`, if anything is pending.
    fn next_look(
        &mut self,
        run: &Path,
        report: &crate::pass::PassReport,
        only_known_failures: bool,
    ) -> Option<Instant> {
        let now = Instant::now();
        let mut next = report.recheck_at.map(Instant::from_std);
        let mut by = |at: Instant| next = Some(next.map_or(at, |n| n.min(at)));
        let waiting = matches!(report.reached, Reached::Busy | Reached::LockFailed(_));
        if self.runs[run].polled || waiting {
            by(now + report.watch.poll_interval);
        }
        if report.executed.failed() > 0 || report.trash_left() || report.executed.vetoed() > 0 {
            // A vetoed deletion is asked about again on the same timer.
            // A deletion that failed (a mount point, an immutable file) is tried again on a
            // timer: a failed rename changes nothing the periodic rescan would notice.
            by(now + self.options.trash_retry);
        }
        if report.executed.deferred > 0 && !only_known_failures {
            // The rest of its backlog, after the runs woken by events; but not in a hot loop
            // when all it tried were deletions known to fail.
            self.backlogged.insert(run.to_owned());
            by(now);
        } else {
            self.backlogged.remove(run);
        }
        next
    }

    /// A hook ended: its output at DEBUG; an `on_complete` that failed is a WARN; a
    /// `before_delete` answer is kept for its run, which is due at once.
    fn hook_done(&mut self, done: crate::hook::runner::Done) {
        use crate::hook::Event;
        let crate::hook::runner::Done { job, finished } = done;
        crate::hook::log_finished(job.event, &job.run, &job.watch, &job.checkpoint, &finished);
        match job.event {
            Event::Complete if !finished.status.success() => {
                tracing::warn!(run = %job.run.display(), watch = %job.watch, checkpoint = %job.checkpoint, hook = "on_complete", "on_complete hook for {} in {} failed: {}", job.checkpoint, job.run.display(), finished.veto());
            }
            Event::Complete => {}
            Event::BeforeDelete => {
                let answer = if finished.status.success() {
                    Ok(())
                } else {
                    Err(finished.veto())
                };
                let clock = hook_answers::Clock {
                    now: std::time::Instant::now(),
                    retry: self.options.trash_retry,
                    timeout: Duration::ZERO,
                };
                // A run set aside meanwhile (a parent unreadable) gets its answer too: it
                // would otherwise wait for it until the hook's time is up.
                let memory = match self.runs.get_mut(&job.run) {
                    Some(memory) => Some(memory),
                    None => self.set_aside.get_mut(&job.run),
                };
                if let Some(memory) = memory {
                    let subject = hook_answers::Subject {
                        digest: job.digest,
                        argv: job.argv.clone(),
                        reasons: job.reasons,
                    };
                    memory
                        .hook_answers
                        .answered(&job.checkpoint, subject, answer, clock);
                }
                if self.runs.contains_key(&job.run) {
                    self.mark_due(&job.run, Instant::now());
                }
            }
        }
    }

    /// SIGHUP: validate the whole new config first; keep the old one if it is invalid.
    fn reload(&mut self, config_path: &Path) {
        systemd::reloading();
        match Config::load(config_path) {
            Ok(config) => {
                let watches = config.watches.len();
                self.disks = disk::DiskWatch::new(&config);
                self.exporter.reload(&config.daemon);
                self.exporter.looked(true);
                self.uploads.reload(&config, &self.upload_reports);
                self.config = config;
                // Their watch indices belong to the old config.
                self.set_aside.clear();
                // New runs are adopted, removed ones forgotten, kept ones re-bound to their
                // (possibly changed) watch; all are planned again under the new policies.
                self.discover(true);
                self.rescan_all();
                tracing::info!(config = %config_path.display(), watches, runs = self.runs.len(), "config reloaded");
                if let Some(idle) = self.config.idle_warning() {
                    tracing::warn!(config = %config_path.display(), "{idle}");
                }
            }
            Err(errors) => {
                for error in &errors.0 {
                    tracing::error!(config = %config_path.display(), error = %error, "config reload refused: the previous config stays in force");
                }
            }
        }
        systemd::ready(&self.status_line());
    }

    fn status_line(&self) -> String {
        let polled = self.runs.values().filter(|m| m.polled).count();
        let dropped = match crate::log_line::dropped_lines() {
            0 => String::new(),
            n => format!("; {n} log lines lost (stderr closed)"),
        };
        format!(
            "watching {} ({polled} polled); deleted {}, freed {}{dropped}",
            crate::report::count(self.runs.len(), "run"),
            crate::report::count(
                usize::try_from(self.ledger.counters.deletions).unwrap_or(usize::MAX),
                "checkpoint"
            ),
            human_bytes(self.ledger.counters.bytes_freed)
        )
    }
}
