//! ckptd keeps ML training runs from filling their disks, from outside the training process.
//!
//! # Layout
//! A pure core inside an imperative shell. Data flows one way:
//!
//! - `config` reads the TOML file into validated [`config::Config`]: watches, each with a
//!   [`layout::Layout`], a [`policy::Policy`] and a metric source.
//! - `runs` expands each watch's globs into run directories.
//! - `scan` lists a run's direct children, lets the layout recognise checkpoints, fingerprints
//!   them, asks `metrics` for their metric and collects pins and pointers: a
//!   `Vec<`[`checkpoint::Checkpoint`]`>`.
//! - `plan` (pure: checkpoints + policy + now) decides keep or delete, with reasons.
//! - `execute` carries a plan out: rename into `<run>/.ckptd-trash/`, then remove, re-checking
//!   every safety condition at the moment it acts. A dry run only logs. Slimming (`slim`:
//!   which files are training state, and `<run>/.ckptd-slim/` records) goes through the same
//!   seam.
//! - `report` renders plans as a table or JSON; `cli` wires the commands together.
//! - `daemon` runs the above on every change and records what it saw and did in its ledger;
//!   `history` (pure) folds the ledger back into each run's checkpoints and their fates.
//! - `prometheus` renders what the daemon manages and did as Prometheus metrics (pure), for
//!   the daemon to write to node_exporter's textfile collector or serve at `/metrics`.

pub mod checkpoint;
pub mod cli;
pub mod config;
pub mod daemon;
pub mod daemon_state;
pub mod disk;
pub mod duration;
pub mod execute;
pub mod fs_kind;
#[doc(hidden)]
pub mod fuzzing;
pub mod history;
pub mod hook;
pub mod io_hint;
pub mod layout;
pub mod lock;
pub mod log_line;
pub mod logging;
pub mod metrics;
pub mod offload;
pub mod pass;
pub mod paths;
pub mod pattern;
pub mod pins;
pub mod plan;
pub mod policy;
pub mod pressure;
pub mod prometheus;
pub mod regular_file;
pub mod report;
pub mod runs;
pub mod scan;
pub mod shutdown;
pub mod size;
pub mod slim;
pub mod storage_clock;
pub mod suggest;
pub mod upload;
