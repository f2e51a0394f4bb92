//! `ckptd completions SHELL` and `ckptd man`: shell completions (clap_complete) and
//! the ckptd(8) man page (clap_mangen), both generated from the clap definitions that parse
//! the command line, so neither can drift from it. `scripts/build-deb` writes both into the
//! Debian package; docs/packaging.md says how.
//!
//! clap_mangen writes one page per subcommand, pages the package would have to list one by
//! one; ckptd(8) is one page instead: clap_mangen's sections for ckptd itself, then each
//! command's synopsis and options under COMMANDS, then exit status, files and related pages.

use std::io::Write;

use clap::{Command, CommandFactory};
use clap_mangen::Man;

use super::Cli;

/// Writes the completion script for `shell` to stdout.
pub fn completions(shell: clap_complete::Shell) -> u8 {
    let mut script = Vec::new();
    clap_complete::generate(shell, &mut Cli::command(), "ckptd", &mut script);
    write_out(&script)
}

/// Writes the ckptd(8) man page (roff) to stdout.
pub fn man() -> u8 {
    write_out(man_page().as_bytes())
}

fn write_out(bytes: &[u8]) -> u8 {
    match std::io::stdout().lock().write_all(bytes) {
        Ok(()) => super::EXIT_OK,
        // A closed pipe (`ckptd man | head`) is not worth a message.
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => super::EXIT_OK,
        Err(e) => {
            errln!("ckptd: cannot write the output: {e}");
            super::EXIT_FAILED
        }
    }
}

/// DESCRIPTION, on the page only: `--help` stays short.
const DESCRIPTION: &str = "ckptd watches the run directories that training jobs write checkpoints \
into, recognises each checkpoint (Hugging Face, Lightning, DCP, DeepSpeed, Megatron, Orbax, \
torchtitan, Open-Sora, NeMo, or a pattern of your own), waits until it is completely written, \
reads its step and validation metrics, and applies the run's retention policy: keep the last N, \
the best K by a metric, milestones, one per time window, everything recent, and free-space \
floors and budgets. Rules add up; the newest complete checkpoint, incomplete, pinned and \
pointed-at checkpoints are never deleted. ckptd run is the daemon (the systemd unit \
ckptd.service); ckptd prune applies the policies once (ckptd-prune.timer). The config file is \
described in ckptd.toml(5).";

/// The whole ckptd(8) page.
pub fn man_page() -> String {
    // The page names the release only: the commit in --version would make every build's page
    // differ.
    let cmd = Cli::command()
        .version(env!("CARGO_PKG_VERSION"))
        .long_about(DESCRIPTION);
    let man = Man::new(cmd.clone())
        .section("8")
        .source(format!("ckptd {}", env!("CARGO_PKG_VERSION")))
        .manual("System Administration");
    let mut page = rendered(|w| man.render_title(w));
    for render in [
        Man::render_name_section,
        Man::render_synopsis_section,
        Man::render_description_section,
        Man::render_options_section,
    ] {
        page += without_preamble(&rendered(|w| render(&man, w)));
    }
    page += ".SH COMMANDS\n";
    for sub in cmd.get_subcommands().filter(|s| !s.is_hide_set()) {
        page += &command_section(sub);
    }
    page += &tail(&cmd);
    page
}

/// One command under COMMANDS: its synopsis, what it does, its options.
fn command_section(sub: &Command) -> String {
    let name = format!("ckptd {}", sub.get_name());
    // Built alone, the command lists only its own arguments: -v and -h are said once above.
    let man = Man::new(sub.clone().bin_name(&name).disable_help_flag(true));
    let mut text = format!(".SS \"{name}\"\n");
    text += body(&rendered(|w| man.render_synopsis_section(w)));
    text += ".PP\n";
    text += body(&rendered(|w| man.render_description_section(w)));
    if sub.get_arguments().any(|a| !a.is_hide_set()) {
        text += body(&rendered(|w| man.render_options_section(w)));
    }
    text
}

/// EXIT STATUS (the help's closing text), FILES, ENVIRONMENT and SEE ALSO.
fn tail(cmd: &Command) -> String {
    let exit = cmd
        .get_after_help()
        .map(ToString::to_string)
        .unwrap_or_default();
    let exit = exit.strip_prefix("Exit codes: ").unwrap_or(&exit);
    let mut roff = roff::Roff::new();
    roff.control("SH", ["EXIT STATUS"])
        .text([roff::roman(exit)]);
    roff.control("SH", ["FILES"]);
    for (file, what) in [
        ("/etc/ckptd/ckptd.toml", "The default config file; see ckptd.toml(5)."),
        (
            "/var/lib/ckptd",
            "State of the daemon under its systemd unit: counters.json and the deletion ledger ledger.jsonl.",
        ),
        (
            "/usr/share/doc/ckptd",
            "README.md, the reference in docs/, and example configs in examples/.",
        ),
    ] {
        roff.control("TP", []).text([roff::bold(file)]).text([roff::roman(what)]);
    }
    roff.control("SH", ["ENVIRONMENT"]);
    for (var, what) in [
        (
            "CKPTD_LOG",
            "A log filter (tracing-subscriber syntax), instead of -v.",
        ),
        (
            "STATE_DIRECTORY",
            "Where ckptd run keeps its state when the config sets no state_dir (set by systemd).",
        ),
    ] {
        roff.control("TP", [])
            .text([roff::bold(var)])
            .text([roff::roman(what)]);
    }
    roff.control("SH", ["SEE ALSO"]).text([roff::roman(
        "ckptd.toml(5), systemctl(1), journalctl(1), systemd.service(5)",
    )]);
    // The preamble that defines \*(Aq is already at the top of the page.
    without_preamble(&roff.render()).to_owned()
}

fn rendered(render: impl FnOnce(&mut Vec<u8>) -> std::io::Result<()>) -> String {
    let mut out = Vec::new();
    render(&mut out).expect("writing to a Vec cannot fail");
    String::from_utf8(out).expect("roff from UTF-8 help text is UTF-8")
}

/// Each rendered part repeats roff's preamble before its `.SH` line: drop it.
fn without_preamble(text: &str) -> &str {
    text.find("\n.SH ").map_or(text, |at| &text[at + 1..])
}

/// A part without its preamble nor its `.SH` heading, to go under a `.SS`.
fn body(text: &str) -> &str {
    let section = without_preamble(text);
    section.split_once('\n').map_or("", |(_, rest)| rest)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_man_page_has_one_title_and_every_command_with_its_options() {
        let page = man_page();
        assert!(page.starts_with(".ie \\n(.g"), "one preamble, first");
        assert_eq!(
            page.matches("\n.TH ").count() + usize::from(page.starts_with(".TH")),
            1
        );
        assert_eq!(
            page.matches(".ds Aq").count(),
            2,
            "the preamble's two lines, once"
        );
        assert!(page.contains(".TH ckptd 8  \"ckptd "), "{page}");
        // Every visible command of the clap definitions, so a new one cannot be forgotten.
        let cli = Cli::command();
        let subs: Vec<&str> = cli
            .get_subcommands()
            .filter(|c| !c.is_hide_set())
            .map(Command::get_name)
            .collect();
        assert!(subs.contains(&"explain") && subs.len() >= 11, "{subs:?}");
        for sub in subs {
            assert!(
                page.contains(&format!(".SS \"ckptd {sub}\"")),
                "{sub} missing"
            );
        }
        // An option of one command, and its default.
        assert!(page.contains("\\-\\-dry\\-run"), "{page}");
        assert!(page.contains("/etc/ckptd/ckptd.toml"));
        for heading in [
            "NAME",
            "SYNOPSIS",
            "DESCRIPTION",
            "OPTIONS",
            "COMMANDS",
            "\"EXIT STATUS\"",
            "FILES",
            "\"SEE ALSO\"",
        ] {
            assert_eq!(
                page.matches(&format!("\n.SH {heading}\n")).count(),
                1,
                "{heading}\n{page}"
            );
        }
        // No page of its own per command is referred to: everything is on this one.
        assert!(!page.contains("ckptd-plan(8)"), "{page}");
    }

    #[test]
    fn body_drops_the_preamble_and_the_heading() {
        assert_eq!(body(".ie x\n.el y\n.SH OPTIONS\n.TP\nx\n"), ".TP\nx\n");
        assert_eq!(
            without_preamble(".ie x\n.SH NAME\nckptd\n"),
            ".SH NAME\nckptd\n"
        );
    }
}
