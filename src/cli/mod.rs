//! The command line: `run`, `check`, `plan`, `prune`, `status`, `explain`, `pin`, `unpin`,
//! `history`, `completions`, `man`.
//!
//! Exit codes: 0 ok; 1 some actions failed; 2 bad config or usage (clap uses 2 as well).

#[macro_use]
mod output;

mod daemon;
mod deep;
mod explain;
mod generate;
mod history;
mod pass;
mod pin;
mod plan;
mod prune;
mod status;

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{ArgAction, Args, Parser, Subcommand, ValueEnum};

use crate::config::{Config, LogFormat};

/// Exit code: every action succeeded.
pub const EXIT_OK: u8 = 0;
/// Exit code: some actions failed (logged as ERROR).
pub const EXIT_FAILED: u8 = 1;
/// Exit code: bad config or usage.
pub const EXIT_USAGE: u8 = 2;

/// What `ckptd --version` prints after "ckptd ": the release, the git commit it was built from
/// ("unknown" outside a git checkout) and the target triple, both recorded by build.rs.
pub const VERSION: &str = concat!(
    env!("CARGO_PKG_VERSION"),
    "\ncommit: ",
    env!("CKPTD_COMMIT"),
    "\ntarget: ",
    env!("CKPTD_TARGET")
);

#[derive(Debug, Parser)]
#[command(
    name = "ckptd",
    version = VERSION,
    subcommand_value_name = "COMMAND",
    about = "Keeps ML training runs from filling their disks: checkpoint retention from outside the trainer",
    after_help = "Exit codes: 0 done (checkpoints skipped because they changed meanwhile included); 1 something failed (an ERROR says what), was interrupted, or a run is held (keep_best found its metric in no checkpoint of it); 2 bad config or usage."
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
    /// More log detail (-v debug, -vv trace); CKPTD_LOG takes a full filter.
    #[arg(short, long, action = ArgAction::Count, global = true)]
    verbose: u8,
    /// How log lines are written, over the config's `log_format` (for a one-off `plan`, say).
    #[arg(long, value_enum, global = true, value_name = "FORMAT")]
    log_format: Option<LogFormatArg>,
}

/// `--log-format`: the config's `log_format` values.
#[derive(Debug, Clone, Copy, ValueEnum)]
enum LogFormatArg {
    /// journald when stderr is the journal, else text.
    Auto,
    Journald,
    Text,
    Json,
}

/// How this invocation logs: `-v` and `--log-format`.
#[derive(Debug, Clone, Copy)]
pub struct Logging {
    verbosity: u8,
    format: Option<LogFormat>,
}

impl Logging {
    /// Starts logging, the flag winning over the config's `log_format`.
    pub fn init(self, config: &Config) {
        crate::logging::init(
            self.format.unwrap_or(config.daemon.log_format),
            self.verbosity,
        );
    }
}

#[derive(Debug, Args)]
struct ConfigArg {
    /// The config file.
    #[arg(short, long, default_value = "/etc/ckptd/ckptd.toml")]
    config: PathBuf,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the daemon: watch the runs, settle, apply the policies as checkpoints complete.
    Run(ConfigArg),
    /// Validate the config: exit 0, or print every error with its file, line and column, and exit 2.
    Check {
        #[command(flatten)]
        config: ConfigArg,
        /// Also expand the globs: runs and checkpoints per watch, and why a watch finds none
        /// (exit 1 then, or when two watches match one run).
        #[arg(long)]
        deep: bool,
    },
    /// Show what would be kept and deleted now, and why.
    Plan {
        #[command(flatten)]
        config: ConfigArg,
        /// Print JSON instead of a table.
        #[arg(long)]
        json: bool,
        /// Only these run directories (default: every run of every watch).
        runs: Vec<PathBuf>,
    },
    /// Apply the policies once and exit.
    Prune {
        #[command(flatten)]
        config: ConfigArg,
        /// Log what would be deleted, delete nothing.
        #[arg(long)]
        dry_run: bool,
        /// Do not ask before deleting more than 10 checkpoints from a terminal.
        #[arg(short, long)]
        yes: bool,
        /// Only these run directories (default: every run of every watch).
        runs: Vec<PathBuf>,
    },
    /// Per run: checkpoints, bytes, what the plan would free, pins, the daemon's last pass and
    /// deletion; free space per filesystem; the daemon: running or not, last pass, counters.
    Status {
        #[command(flatten)]
        config: ConfigArg,
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
        /// Only these run directories (default: every run of every watch).
        runs: Vec<PathBuf>,
    },
    /// Protect a checkpoint from every rule: creates <run>/.ckptd-pins/<name>.
    Pin {
        #[command(flatten)]
        config: ConfigArg,
        /// A checkpoint (or a symlink in its run pointing at one).
        path: PathBuf,
    },
    /// One checkpoint: what it is, what protects it, each rule's view of it, and the decision.
    Explain {
        #[command(flatten)]
        config: ConfigArg,
        /// A checkpoint (or a symlink in its run pointing at one).
        path: PathBuf,
    },
    /// Remove a pin.
    Unpin {
        #[command(flatten)]
        config: ConfigArg,
        /// A pinned checkpoint (or a symlink in its run pointing at one).
        path: PathBuf,
    },
    /// Every checkpoint the daemon saw, from its ledger (in `state_dir`, else $STATE_DIRECTORY,
    /// /var/lib/ckptd or ~/.local/state/ckptd): step, completion, fate (kept, deleted when and
    /// why, deleting, in trash, not deleted, replaced, gone) and metrics. On a terminal, also
    /// the policy metric against step.
    History {
        #[command(flatten)]
        config: ConfigArg,
        /// Print JSON instead of a table.
        #[arg(long)]
        json: bool,
        /// Only these run directories (default: every run in the ledger).
        runs: Vec<PathBuf>,
    },
    /// Print a completion script for SHELL (bash, zsh, fish, elvish, powershell) to stdout.
    Completions {
        /// The shell to complete for.
        shell: clap_complete::Shell,
    },
    /// Print the ckptd(8) man page (roff) to stdout: `ckptd man | man -l -` reads it.
    Man,
}

/// Runs the command line; returns the process exit code.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    let code = dispatch(cli);
    // A closed pipe is quiet; any other failure to write what was asked for is a failure.
    match output::failure() {
        Some(e) if code == EXIT_OK => {
            let _ = std::io::Write::write_all(
                &mut std::io::stderr(),
                format!("ckptd: cannot write the output: {e}\n").as_bytes(),
            );
            ExitCode::from(EXIT_FAILED)
        }
        _ => ExitCode::from(code),
    }
}

fn dispatch(cli: Cli) -> u8 {
    let logging = Logging {
        verbosity: cli.verbose,
        format: cli.log_format.map(|f| match f {
            LogFormatArg::Auto => LogFormat::Auto,
            LogFormatArg::Journald => LogFormat::Journald,
            LogFormatArg::Text => LogFormat::Text,
            LogFormatArg::Json => LogFormat::Json,
        }),
    };
    match cli.command {
        Command::Run(arg) => daemon::run(&arg.config, logging),
        Command::Status { config, json, runs } => match load(&config.config, logging) {
            Some(config) => status::status(&config, &runs, json),
            None => EXIT_USAGE,
        },
        Command::Check { config, deep } => check(&config.config, deep),
        Command::Plan { config, json, runs } => match load(&config.config, logging) {
            Some(config) => plan::plan(&config, &runs, json),
            None => EXIT_USAGE,
        },
        Command::Prune {
            config,
            dry_run,
            yes,
            runs,
        } => {
            let Some(config) = load(&config.config, logging) else {
                return EXIT_USAGE;
            };
            prune::prune(&config, &runs, dry_run, yes)
        }
        Command::Pin { config, path } => match load(&config.config, logging) {
            Some(config) => pin::pin(&config, &path),
            None => EXIT_USAGE,
        },
        Command::Unpin { config, path } => match load(&config.config, logging) {
            Some(config) => pin::unpin(&config, &path),
            None => EXIT_USAGE,
        },
        Command::Explain { config, path } => match load(&config.config, logging) {
            Some(config) => explain::explain(&config, &path),
            None => EXIT_USAGE,
        },
        Command::History { config, json, runs } => match load(&config.config, logging) {
            Some(config) => history::history(&config, &runs, json),
            None => EXIT_USAGE,
        },
        Command::Completions { shell } => generate::completions(shell),
        Command::Man => generate::man(),
    }
}

/// `ckptd check`: ok with the number of watches, or every error; `--deep`: and what the globs
/// find.
fn check(file: &Path, deep: bool) -> u8 {
    match Config::load(file) {
        Ok(config) => {
            let filesystems = match config.filesystems.len() {
                0 => String::new(),
                1 => ", 1 filesystem".to_owned(),
                n => format!(", {n} filesystems"),
            };
            outln!(
                "{}: ok ({} watch{}{filesystems})",
                config.file.display(),
                config.watches.len(),
                if config.watches.len() == 1 { "" } else { "es" }
            );
            if let Some(idle) = config.idle_warning() {
                outln!("note: {idle}");
            }
            if !deep {
                return EXIT_OK;
            }
            let (report, problems) = deep::deep(&config);
            out!("{report}");
            if problems == 0 {
                EXIT_OK
            } else {
                EXIT_FAILED
            }
        }
        Err(errors) => {
            errln!("{errors}");
            EXIT_USAGE
        }
    }
}

/// Loads the config and starts logging in its format; prints the errors and returns `None`
/// when it is invalid.
fn load(file: &Path, logging: Logging) -> Option<Config> {
    match Config::load(file) {
        Ok(config) => {
            logging.init(&config);
            Some(config)
        }
        Err(errors) => {
            errln!("{errors}");
            None
        }
    }
}
