//! The command line end to end: exit codes, error messages, safety on odd trees, pins,
//! dry runs, trash left by an interrupted pass, and the confirmation prompt.

mod common;

use std::os::unix::fs::symlink;
use std::time::Duration;

use common::{assert_success, decisions, row, stderr, stdout, Fixture};

const KEEP_LAST_1: &str = "[[watch]]\nname = \"g\"\nruns = [\"run\"]\nlayout = \"generic\"\npattern = \"ckpt-{step}*\"\nkeep_last = 1\n";

/// Files `run/ckpt-<step>.pt`, the higher the step the newer.
fn generic_run(f: &Fixture, steps: &[u64]) {
    for (i, step) in steps.iter().enumerate() {
        let name = format!("run/ckpt-{step}.pt");
        f.write(&name, vec![0u8; 100]);
        f.age(&name, 100 - i as u64);
    }
}

#[test]
fn check_accepts_a_valid_config() {
    let f = Fixture::new();
    f.config(KEEP_LAST_1);
    let out = f.ckptd(&["check", "--config", "ckptd.toml"]);
    assert_success(&out);
    assert!(
        stdout(&out).contains("ckptd.toml: ok (1 watch)"),
        "{}",
        stdout(&out)
    );
}

#[test]
fn check_reports_every_error_with_file_line_column_and_exits_2() {
    let f = Fixture::new();
    let file = f.config("[[watch]]\nname = \"g\"\nruns = [\"run\"]\nlayout = \"huggingface\"\nkeep_best = 2\nsettle = \"soon\"\n");
    let out = f.ckptd(&["check", "--config", "ckptd.toml"]);
    assert_eq!(out.status.code(), Some(2));
    let err = stderr(&out);
    let file = file.display();
    assert!(
        err.contains(&format!("{file}:5:13: keep_best needs `metric`")),
        "{err}"
    );
    assert!(
        err.contains(&format!("{file}:5:13: keep_best needs `mode`")),
        "{err}"
    );
    assert!(err.contains(&format!("{file}:6:10: `settle`")), "{err}");
}

#[test]
fn check_refuses_runs_written_for_a_shell_with_the_path_to_write_instead() {
    let f = Fixture::new();
    let file = f.config(
        "[[watch]]\nname = \"g\"\nruns = [\"~/runs/*\", \"$SCRATCH/runs/*\", \"/data/${USER}/*\"]\nlayout = \"generic\"\npattern = \"ckpt-{step}\"\nkeep_last = 1\n",
    );
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_ckptd"))
        .args(["check", "--config"])
        .arg(&file)
        .env("HOME", "/home/ana")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = stderr(&out);
    let file = file.display();
    assert!(
        err.contains(&format!(
            "{file}:3:9: `~` is not expanded in `runs` (no shell reads the config): write the absolute path, e.g. \"/home/ana/runs/*\""
        )),
        "{err}"
    );
    assert!(
        err.contains(&format!("{file}:3:21: `$` in `runs` (\"$SCRATCH/runs/*\")")),
        "{err}"
    );
    assert!(
        err.contains(&format!(
            "{file}:3:40: `$` in `runs` (\"/data/${{USER}}/*\")"
        )),
        "{err}"
    );
}

#[test]
fn check_deep_counts_what_each_watch_finds_and_says_why_one_finds_nothing() {
    let f = Fixture::new();
    f.write("hf/exp1/checkpoint-100/trainer_state.json", "{}");
    f.write("hf/exp1/checkpoint-200/trainer_state.json", "{}");
    f.write("lit/v1/epoch=1-step=100.ckpt", "x");
    f.write("sweep/a/exp1/checkpoint-5/config.json", "{}");
    let watch = |name: &str, runs: &str, extra: &str| {
        format!(
            "[[watch]]\nname = \"{name}\"\nruns = [\"{runs}\"]\nlayout = \"huggingface\"\n\
             keep_last = 2\n{extra}\n"
        )
    };
    let config = [
        watch("hf", "hf/*", ""),
        watch("lit", "lit/*", ""),
        watch("sweep", "sweep/*", ""),
        watch("again", "hf/exp*", ""),
    ]
    .concat();
    f.config(&config);
    let out = f.ckptd(&["check", "--deep", "--config", "ckptd.toml"]);
    let text = stdout(&out);
    assert_eq!(out.status.code(), Some(1), "{text}{}", stderr(&out));
    let root = f.path("").display().to_string();
    let lines: Vec<String> = text
        .lines()
        .map(|l| l.replace(&root, "R/").replace("R//", "R/"))
        .collect();
    assert_eq!(
        lines[1..],
        [
            "watch hf (huggingface): 1 run, 2 checkpoints",
            "  R/hf/exp1: 2 checkpoints",
            "watch lit (huggingface): 1 run, 0 checkpoints",
            "  R/lit/v1: 0 checkpoints",
            "    hint: 1 entry looks like `lightning` checkpoints (epoch=1-step=100.ckpt): is `layout = \"huggingface\"` right?",
            "watch sweep (huggingface): 1 run, 0 checkpoints",
            "  R/sweep/a: 0 checkpoints",
            "    hint: its subdirectories hold checkpoints (exp1/checkpoint-5): the `runs` glob is one level too high? try \"R/sweep/*/*\"",
            "watch again (huggingface): 0 runs, 0 checkpoints",
            "  every run its globs match is managed by another watch (see `overlap` below)",
            "overlap: R/hf/exp1 is matched by watch hf and by watch again; watch hf manages it. If that is meant, add it to watch again's `exclude`.",
        ],
        "{text}"
    );
    // `exclude` makes the overlap intended: the run is the other watch's, and nothing is said.
    f.config(
        &[
            watch("hf", "hf/*", "exclude = [\"hf/exp1\"]"),
            watch("again", "hf/exp*", ""),
        ]
        .concat(),
    );
    let out = f.ckptd(&["check", "--deep", "--config", "ckptd.toml"]);
    let text = stdout(&out);
    assert!(
        text.contains("watch again (huggingface): 1 run, 2 checkpoints"),
        "{text}"
    );
    assert!(!text.contains("overlap"), "{text}");
    // Without --deep, check reads only the config.
    let out = f.ckptd(&["check", "--config", "ckptd.toml"]);
    assert_success(&out);
    assert_eq!(stdout(&out).lines().count(), 1);
}

#[test]
fn check_refuses_a_pattern_naming_a_single_file() {
    // Issue 9: `pattern = "model.pt"` was accepted; it names one file, never a series.
    let f = Fixture::new();
    let file = f.config(
        "[[watch]]\nname = \"g\"\nruns = [\"run\"]\nlayout = \"generic\"\npattern = \"model.pt\"\nkeep_last = 1\n",
    );
    let out = f.ckptd(&["check", "--config", "ckptd.toml"]);
    assert_eq!(out.status.code(), Some(2));
    let err = stderr(&out);
    assert!(
        err.contains(&format!(
            "{}:5:11: pattern `model.pt` names a single file: a checkpoint pattern needs {{step}}, {{epoch}} or a `*`",
            file.display()
        )),
        "{err}"
    );
}

#[test]
fn plan_of_one_run_says_nothing_about_other_watches_runs() {
    // Issue 9: `plan RUN` printed the WARNs of every other watch's discovery.
    let f = Fixture::new();
    f.write("a/ckpt-1.pt", b"x");
    f.config(
        "[[watch]]\nname = \"a\"\nruns = [\"a\"]\nlayout = \"generic\"\npattern = \"ckpt-{step}.pt\"\nkeep_last = 1\n\n[[watch]]\nname = \"b\"\nruns = [\"elsewhere/*\"]\nlayout = \"generic\"\npattern = \"ckpt-{step}.pt\"\nkeep_last = 1\n",
    );
    let all = f.ckptd(&["plan", "--config", "ckptd.toml"]);
    assert!(
        stderr(&all).contains("no run directory matches this glob"),
        "{}",
        stderr(&all)
    );
    let one = f.ckptd(&["plan", "--config", "ckptd.toml", "a"]);
    assert_eq!(one.status.code(), Some(0), "{}", stderr(&one));
    assert!(!stderr(&one).contains("WARN"), "{}", stderr(&one));
    // No run at all: said on stdout too, not an empty output.
    std::fs::remove_dir_all(f.path("a")).unwrap();
    let none = f.ckptd(&["plan", "--config", "ckptd.toml"]);
    assert_eq!(stdout(&none), "no run directories found\n");
}

#[test]
fn a_missing_config_file_exits_2_naming_it() {
    let f = Fixture::new();
    let out = f.ckptd(&["plan", "--config", "nope.toml"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("nope.toml: cannot read config"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn bad_usage_exits_2() {
    let f = Fixture::new();
    assert_eq!(f.ckptd(&["frobnicate"]).status.code(), Some(2));
    assert_eq!(f.ckptd(&["plan", "--bogus"]).status.code(), Some(2));
}

#[test]
fn a_bad_config_deletes_nothing() {
    let f = Fixture::new();
    generic_run(&f, &[1, 2, 3]);
    f.config(&KEEP_LAST_1.replace("keep_last = 1", "keep_last = -1"));
    let out = f.ckptd(&["prune", "--config", "ckptd.toml"]);
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(f.listing("run"), ["ckpt-1.pt", "ckpt-2.pt", "ckpt-3.pt"]);
}

#[test]
fn plan_prints_a_table_with_reasons() {
    let f = Fixture::new();
    generic_run(&f, &[1, 2, 3]);
    f.config(KEEP_LAST_1);
    let out = f.ckptd(&["plan", "--config", "ckptd.toml"]);
    assert_success(&out);
    let table = stdout(&out);
    assert!(
        table.contains("3 checkpoints, 2 to delete, 200 B to free"),
        "{table}"
    );
    let line = table.lines().find(|l| l.contains("ckpt-1.pt")).unwrap();
    assert!(
        line.contains("DELETE") && line.contains("unkept: older than the last 1"),
        "{line}"
    );
    let line = table.lines().find(|l| l.contains("ckpt-3.pt")).unwrap();
    assert!(
        line.contains("keep") && line.contains("newest-complete,last"),
        "{line}"
    );
    // plan never deletes.
    assert_eq!(f.listing("run").len(), 3);
}

#[test]
fn plan_of_a_named_run_and_of_an_unknown_path() {
    let f = Fixture::new();
    generic_run(&f, &[1, 2]);
    f.config(KEEP_LAST_1);
    let out = f.ckptd(&["plan", "--json", "--config", "ckptd.toml", "run"]);
    assert_success(&out);
    let out = f.ckptd(&["plan", "--config", "ckptd.toml", "elsewhere"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("elsewhere is not a run directory of any watch"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn prune_dry_run_deletes_nothing_and_says_what_it_would_do() {
    let f = Fixture::new();
    generic_run(&f, &[1, 2, 3]);
    f.config(KEEP_LAST_1);
    let out = f.ckptd(&["prune", "--dry-run", "--config", "ckptd.toml"]);
    assert_success(&out);
    assert!(
        stdout(&out).contains("dry run: would delete 2 checkpoints, 200 B to free"),
        "{}",
        stdout(&out)
    );
    assert!(
        stderr(&out).contains("dry run: would delete checkpoint"),
        "{}",
        stderr(&out)
    );
    assert_eq!(f.listing("run"), ["ckpt-1.pt", "ckpt-2.pt", "ckpt-3.pt"]);

    // dry_run in the config does the same.
    f.config(&format!("{KEEP_LAST_1}dry_run = true\n"));
    assert_success(&f.ckptd(&["prune", "--config", "ckptd.toml"]));
    assert_eq!(f.listing("run").len(), 3);
}

#[test]
fn pinned_checkpoints_survive_and_unpinning_releases_them() {
    let f = Fixture::new();
    generic_run(&f, &[1, 2, 3]);
    f.config(KEEP_LAST_1);
    let out = f.ckptd(&["pin", "--config", "ckptd.toml", "run/ckpt-1.pt"]);
    assert_success(&out);
    assert!(f.path("run/.ckptd-pins/ckpt-1.pt").exists());
    let plan = f.plan_json();
    assert_eq!(
        decisions(&plan, 0),
        [
            row("ckpt-1.pt", "keep", &["pinned"]),
            row("ckpt-2.pt", "delete", &["unkept"]),
            row("ckpt-3.pt", "keep", &["newest-complete", "last"]),
        ]
    );
    f.prune();
    assert_eq!(f.listing("run"), [".ckptd-pins", "ckpt-1.pt", "ckpt-3.pt"]);
    assert!(
        f.path("run/.ckptd.lock").is_file(),
        "prune holds the run lock while acting"
    );
    assert_success(&f.ckptd(&["unpin", "--config", "ckptd.toml", "run/ckpt-1.pt"]));
    f.prune();
    assert_eq!(f.listing("run"), [".ckptd-pins", "ckpt-3.pt"]);
    let missing = f.ckptd(&["pin", "--config", "ckptd.toml", "run/missing"]);
    assert_eq!(missing.status.code(), Some(1));
}

#[test]
fn log_format_flag_overrides_the_config_and_text_lines_say_the_detail_once() {
    let f = Fixture::new();
    generic_run(&f, &[1, 2, 3]);
    f.config(&format!("[daemon]\nlog_format = \"text\"\n\n{KEEP_LAST_1}"));
    let out = f.ckptd(&[
        "--log-format",
        "json",
        "prune",
        "--config",
        "ckptd.toml",
        "--dry-run",
    ]);
    assert_success(&out);
    let err = stderr(&out);
    let would: Vec<serde_json::Value> = err
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .filter(|v: &serde_json::Value| {
            v["message"]
                .as_str()
                .is_some_and(|m| m.contains("would delete"))
        })
        .collect();
    assert_eq!(would.len(), 2, "{err}");
    assert_eq!(would[0]["detail"], "older than the last 1", "{err}");

    let out = f.ckptd(&["prune", "--config", "ckptd.toml", "--dry-run"]);
    let err = stderr(&out);
    let line = err
        .lines()
        .find(|l| l.contains("would delete checkpoint: ckpt-1.pt"))
        .unwrap_or_else(|| panic!("{err}"));
    assert_eq!(line.matches("older than the last 1").count(), 1, "{line}");
    assert!(!line.contains("detail="), "{line}");
    assert!(line.contains(" reasons=unkept"), "{line}");
    assert!(line.len() < 300, "{} characters: {line}", line.len());

    // Decision events carry the watch, as docs/logs.md says every event about a run does.
    let out = f.ckptd(&[
        "-v",
        "--log-format",
        "json",
        "plan",
        "--config",
        "ckptd.toml",
    ]);
    let decisions: Vec<serde_json::Value> = stderr(&out)
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter(|v| {
            v["message"]
                .as_str()
                .is_some_and(|m| m.starts_with("decision: "))
        })
        .collect();
    assert_eq!(decisions.len(), 3, "{}", stderr(&out));
    assert!(decisions.iter().all(|d| d["watch"] == "g"), "{decisions:?}");

    let bad = f.ckptd(&["--log-format", "xml", "plan", "--config", "ckptd.toml"]);
    assert_eq!(bad.status.code(), Some(2));
    assert!(
        stderr(&bad).contains("possible values: auto, journald, text, json"),
        "{}",
        stderr(&bad)
    );
}

#[test]
fn explain_shows_what_protects_a_checkpoint_each_rules_view_and_the_decision() {
    let f = Fixture::new();
    generic_run(&f, &[1, 2, 3, 4]);
    f.config(
        "[[watch]]\nname = \"g\"\nruns = [\"run\"]\nlayout = \"generic\"\n\
         pattern = \"ckpt-{step}*\"\nkeep_last = 2\nkeep_every_steps = 3\n",
    );
    assert_success(&f.ckptd(&["pin", "--config", "ckptd.toml", "run/ckpt-1.pt"]));
    let explain = |path: &str| {
        let out = f.ckptd(&["explain", "--config", "ckptd.toml", path]);
        assert_success(&out);
        stdout(&out)
    };
    let lines = |text: &str| -> Vec<String> {
        text.lines()
            .skip(3)
            .map(|l| l.trim_end().to_owned())
            .collect()
    };

    let pinned = explain("run/ckpt-1.pt");
    assert!(pinned.starts_with(&format!("{}\n", f.path("run/ckpt-1.pt").display())));
    assert!(pinned.contains("  run "), "{pinned}");
    let pinned = lines(&pinned);
    assert!(
        pinned[0].starts_with("  protected: pinned since "),
        "{pinned:?}"
    );
    assert_eq!(
        pinned[1..],
        [
            "  keep_last 2         no     older than the last 2 (the 4th newest)",
            "  keep_every_steps 3  keeps  first at or after step 0",
            "  decision: keep (pinned, every-steps)",
        ]
    );
    assert_eq!(
        lines(&explain("run/ckpt-2.pt")),
        [
            "  keep_last 2         no     older than the last 2 (the 3rd newest)",
            "  keep_every_steps 3  no     not the first checkpoint in steps [0, 3) (ckpt-1.pt is)",
            "  decision: delete: older than the last 2; not the first checkpoint in steps [0, 3) \
             (ckpt-1.pt is)",
        ]
    );
    assert_eq!(
        lines(&explain("run/ckpt-4.pt")),
        [
            "  protected: the newest complete checkpoint (the resume point)",
            "  keep_last 2         keeps  the newest",
            "  keep_every_steps 3  no     not the first checkpoint in steps [3, 6) (ckpt-3.pt is)",
            "  decision: keep (newest-complete, last)",
        ]
    );
    // Nothing was written: the plan is read-only.
    assert_eq!(
        f.listing("run"),
        [
            ".ckptd-pins",
            "ckpt-1.pt",
            "ckpt-2.pt",
            "ckpt-3.pt",
            "ckpt-4.pt"
        ]
    );
    f.write("elsewhere/ckpt-9.pt", "x");
    let out = f.ckptd(&["explain", "--config", "ckptd.toml", "elsewhere/ckpt-9.pt"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("cannot explain elsewhere/ckpt-9.pt: ")
            && stderr(&out).contains("is not a run directory of any watch"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn pin_checks_that_the_path_is_a_checkpoint_and_follows_a_pointer_to_it() {
    let f = Fixture::new();
    generic_run(&f, &[1, 2, 3]);
    f.write("run/notes.txt", "x");
    f.write("elsewhere/ckpt-9.pt", "x");
    symlink("ckpt-2.pt", f.path("run/best")).unwrap();
    f.config(KEEP_LAST_1);
    let pin = |path: &str| f.ckptd(&["pin", "--config", "ckptd.toml", path]);

    // A symlink pins the checkpoint it points at now, not its own name.
    let out = pin("run/best");
    assert_success(&out);
    assert!(f.path("run/.ckptd-pins/ckpt-2.pt").exists());
    assert!(!f.path("run/.ckptd-pins/best").exists());

    let out = pin("run/notes.txt");
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("notes.txt is not a checkpoint of layout generic"),
        "{}",
        stderr(&out)
    );
    let out = pin("elsewhere/ckpt-9.pt");
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("is not a run directory of any watch"),
        "{}",
        stderr(&out)
    );
    assert!(!f.path("elsewhere/.ckptd-pins").exists());
}

#[test]
fn runs_globs_never_reach_ckptd_dirs_nested_runs_or_symlinked_folders() {
    let f = Fixture::new();
    // `**` matches run, its pins directory and checkpoint directories alike.
    for step in 1..=3 {
        let dir = format!("root/proj/run/ckpt-{step}.d");
        f.write(&format!("{dir}/weights"), "x");
        f.age(&dir, 100 - step);
    }
    f.write("root/proj/run/.ckptd-pins/ckpt-1.d", "");
    f.write("root/proj/run/.ckptd-pins/ckpt-2.d", "");
    // A folder below the glob's literal part that is a symlink to somewhere else.
    for step in 1..=3 {
        f.write(&format!("elsewhere/run/ckpt-{step}.d/weights"), "x");
        f.age(&format!("elsewhere/run/ckpt-{step}.d"), 100 - step);
    }
    symlink(f.path("elsewhere"), f.path("root/linked")).unwrap();
    f.config("[[watch]]\nname = \"g\"\nruns = [\"root/**\"]\nlayout = \"generic\"\npattern = \"ckpt-{step}*\"\nkeep_last = 1\n");
    let out = f.prune();
    let log = stderr(&out);
    assert!(
        log.contains("a run directory inside another run is not a run"),
        "{log}"
    );
    assert!(
        log.contains("run reached through a symlink: skipped"),
        "{log}"
    );
    // The pins survived, so ckpt-1 and ckpt-2 are still protected; the symlinked run is intact.
    assert_eq!(
        f.listing("root/proj/run/.ckptd-pins"),
        ["ckpt-1.d", "ckpt-2.d"]
    );
    assert_eq!(
        f.listing("root/proj/run"),
        [".ckptd-pins", "ckpt-1.d", "ckpt-2.d", "ckpt-3.d"]
    );
    assert_eq!(
        f.listing("elsewhere/run"),
        ["ckpt-1.d", "ckpt-2.d", "ckpt-3.d"]
    );
}

#[test]
fn symlinks_are_pointers_never_checkpoints_and_their_targets_are_untouched() {
    let f = Fixture::new();
    generic_run(&f, &[1, 2, 3]);
    f.write("elsewhere/ckpt-0.pt", "precious");
    symlink(f.path("elsewhere/ckpt-0.pt"), f.path("run/ckpt-0.pt")).unwrap();
    symlink("ckpt-1.pt", f.path("run/best")).unwrap();
    f.config(KEEP_LAST_1);
    let plan = f.plan_json();
    assert_eq!(
        decisions(&plan, 0),
        [
            row("ckpt-1.pt", "keep", &["pointer"]),
            row("ckpt-2.pt", "delete", &["unkept"]),
            row("ckpt-3.pt", "keep", &["newest-complete", "last"]),
        ]
    );
    f.prune();
    assert_eq!(
        f.listing("run"),
        ["best", "ckpt-0.pt", "ckpt-1.pt", "ckpt-3.pt"]
    );
    assert_eq!(
        std::fs::read_to_string(f.path("elsewhere/ckpt-0.pt")).unwrap(),
        "precious"
    );
}

#[test]
fn a_symlinked_run_directory_is_skipped_with_a_warning() {
    let f = Fixture::new();
    generic_run(&f, &[1, 2, 3]);
    f.mkdir("runs");
    symlink(f.path("run"), f.path("runs/linked")).unwrap();
    f.config(&KEEP_LAST_1.replace("runs = [\"run\"]", "runs = [\"runs/*\"]"));
    let out = f.prune();
    assert!(
        stderr(&out).contains("run reached through a symlink: skipped"),
        "{}",
        stderr(&out)
    );
    assert_eq!(f.listing("run").len(), 3);
}

#[test]
fn a_missing_run_is_a_warning_and_the_others_go_on() {
    let f = Fixture::new();
    generic_run(&f, &[1, 2]);
    f.config(&KEEP_LAST_1.replace("runs = [\"run\"]", "runs = [\"gone\", \"run\"]"));
    let out = f.prune();
    assert!(
        stderr(&out).contains("run directory missing: skipped"),
        "{}",
        stderr(&out)
    );
    assert_eq!(f.listing("run"), ["ckpt-2.pt"]);
}

#[test]
fn names_with_spaces_unicode_and_newlines_are_handled() {
    let f = Fixture::new();
    let names = [
        "ckpt-1 with space.pt",
        "ckpt-2-ünïcödé.pt",
        "ckpt-3-new\nline.pt",
        "ckpt-4.pt",
    ];
    for (i, name) in names.iter().enumerate() {
        f.write(&format!("run/{name}"), "x");
        f.age(&format!("run/{name}"), 50 - i as u64);
    }
    f.config(KEEP_LAST_1);
    let out = f.ckptd(&["plan", "--config", "ckptd.toml"]);
    assert_success(&out);
    assert!(
        stdout(&out).contains(r"ckpt-3-new\nline.pt"),
        "{}",
        stdout(&out)
    );
    let plan = f.plan_json();
    assert_eq!(
        plan["runs"][0]["checkpoints"][2]["name"],
        "ckpt-3-new\nline.pt"
    );
    f.prune();
    assert_eq!(f.listing("run"), ["ckpt-4.pt"]);
}

#[test]
fn a_name_whose_step_cannot_be_read_is_not_a_checkpoint() {
    let f = Fixture::new();
    generic_run(&f, &[1, 2]);
    f.write("run/ckpt-99999999999999999999999.pt", "x");
    f.age("run/ckpt-99999999999999999999999.pt", 500);
    f.config(KEEP_LAST_1);
    let out = f.prune();
    assert!(
        stderr(&out).contains("its step cannot be read: not a checkpoint"),
        "{}",
        stderr(&out)
    );
    assert_eq!(
        f.listing("run"),
        ["ckpt-2.pt", "ckpt-99999999999999999999999.pt"]
    );
}

#[test]
fn a_checkpoint_still_settling_is_kept_and_not_counted() {
    let f = Fixture::new();
    generic_run(&f, &[1, 2]);
    f.write("run/ckpt-3.pt", "being written"); // mtime now: younger than settle
    f.config(KEEP_LAST_1);
    let plan = f.plan_json();
    assert_eq!(
        decisions(&plan, 0),
        [
            row("ckpt-1.pt", "delete", &["unkept"]),
            row("ckpt-2.pt", "keep", &["newest-complete", "last"]),
            row("ckpt-3.pt", "keep", &["incomplete"]),
        ]
    );
    assert!(plan["runs"][0]["checkpoints"][2]["detail"]
        .as_str()
        .unwrap()
        .contains("settle is 30s"));
}

#[test]
fn a_checkpoint_open_for_writing_is_incomplete() {
    let f = Fixture::new();
    generic_run(&f, &[1, 2, 3]);
    f.config(KEEP_LAST_1);
    // Hold ckpt-3 open for writing in a child process, as a trainer would.
    let mut writer = std::process::Command::new("sh")
        .arg("-c")
        .arg("exec 3>>run/ckpt-3.pt; read line")
        .current_dir(f.dir.path())
        .stdin(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    let plan = loop {
        let plan = f.plan_json();
        let reasons = &plan["runs"][0]["checkpoints"][2]["reasons"];
        if reasons == &serde_json::json!(["incomplete"]) || std::time::Instant::now() > deadline {
            break plan;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    };
    drop(writer.stdin.take());
    writer.wait().unwrap();
    assert_eq!(
        decisions(&plan, 0),
        [
            row("ckpt-1.pt", "delete", &["unkept"]),
            row("ckpt-2.pt", "keep", &["newest-complete", "last"]),
            row("ckpt-3.pt", "keep", &["incomplete"]),
        ]
    );
    assert_eq!(
        plan["runs"][0]["checkpoints"][2]["detail"],
        "open for writing by a local process"
    );
}

#[test]
fn trash_left_by_an_interrupted_pass_is_emptied() {
    let f = Fixture::new();
    generic_run(&f, &[1]);
    f.write("run/.ckptd-trash/ckpt-0.pt.123.456.0", vec![0u8; 10]);
    f.write("run/.ckptd-trash/ckpt-00.pt.123.457.1/inner", vec![0u8; 10]);
    f.config(KEEP_LAST_1);
    let out = f.prune();
    assert!(
        stderr(&out).contains("removed trash left by an interrupted deletion"),
        "{}",
        stderr(&out)
    );
    assert_eq!(f.listing("run"), ["ckpt-1.pt"]);
}

#[test]
fn a_deletion_that_fails_is_logged_and_exits_1() {
    let f = Fixture::new();
    generic_run(&f, &[1, 2]);
    // A file where the trash directory must go: nothing can be moved aside.
    f.write("run/.ckptd-trash", "not a directory");
    f.config(KEEP_LAST_1);
    let out = f.ckptd(&["prune", "--config", "ckptd.toml"]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(stderr(&out).contains("ERROR"), "{}", stderr(&out));
    assert_eq!(f.listing("run"), [".ckptd-trash", "ckpt-1.pt", "ckpt-2.pt"]);
}

#[test]
fn run_overrides_apply_only_when_the_watch_allows_them() {
    let f = Fixture::new();
    generic_run(&f, &[1, 2, 3, 4]);
    f.write("run/.ckptd.toml", "keep_last = 3\n");
    f.config(KEEP_LAST_1);
    let plan = f.plan_json();
    assert_eq!(plan["runs"][0]["checkpoints"][1]["decision"], "delete");
    f.config(&format!("{KEEP_LAST_1}run_overrides = true\n"));
    let plan = f.plan_json();
    assert_eq!(plan["runs"][0]["checkpoints"][0]["decision"], "delete");
    assert_eq!(plan["runs"][0]["checkpoints"][1]["decision"], "keep");

    // An invalid override is an ERROR (nothing will be deleted in the run: see
    // invalid_run_overrides_delete_nothing…); `plan` shows the watch's policy and exits 1.
    f.write("run/.ckptd.toml", "layout = \"dcp\"\n");
    let out = f.ckptd(&["plan", "--json", "--config", "ckptd.toml"]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("ERROR run overrides invalid"),
        "{}",
        stderr(&out)
    );
    assert!(
        stderr(&out).contains(".ckptd.toml:1:10: `layout` cannot be set per run"),
        "{}",
        stderr(&out)
    );
    let plan: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(plan["runs"][0]["checkpoints"][1]["decision"], "delete");
}

#[test]
fn prune_on_a_terminal_asks_before_deleting_more_than_ten() {
    let f = Fixture::new();
    let steps: Vec<u64> = (1..=13).collect();
    generic_run(&f, &steps);
    f.config(KEEP_LAST_1);
    let binary = env!("CARGO_BIN_EXE_ckptd");
    // `script` gives ckptd a terminal; the answer comes on its stdin.
    let answer = |reply: &str| {
        let mut child = std::process::Command::new("script")
            .args([
                "-qec",
                &format!("{binary} prune --config ckptd.toml"),
                "/dev/null",
            ])
            .current_dir(f.dir.path())
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        let stdin = child.stdin.as_mut().unwrap();
        std::io::Write::write_all(stdin, reply.as_bytes()).unwrap();
        child.wait_with_output().unwrap()
    };
    let out = answer("n\n");
    assert!(
        stdout(&out).contains("Delete 12 checkpoints? [y/N]"),
        "{}",
        stdout(&out)
    );
    assert!(stdout(&out).contains("nothing deleted"), "{}", stdout(&out));
    assert_eq!(f.listing("run").len(), 13);
    let out = answer("y\n");
    assert!(
        stdout(&out).contains("deleted 12 checkpoints"),
        "{}",
        stdout(&out)
    );
    assert_eq!(f.listing("run"), ["ckpt-13.pt"]);
}

#[test]
fn prune_with_yes_or_without_a_terminal_does_not_ask() {
    let f = Fixture::new();
    let steps: Vec<u64> = (1..=13).collect();
    generic_run(&f, &steps);
    f.config(KEEP_LAST_1);
    let out = f.ckptd(&["prune", "--yes", "--config", "ckptd.toml"]);
    assert_success(&out);
    assert!(!stdout(&out).contains("[y/N]"));
    assert_eq!(f.listing("run"), ["ckpt-13.pt"]);
}

/// Exit status of `ckptd ARGS` (in `f`'s directory) whose stdout and stderr are pipes that
/// nobody reads: their read ends are closed before it starts, so every write fails (EPIPE).
fn with_closed_output(f: &Fixture, args: &[&str]) -> Option<i32> {
    let (reader, writer) = rustix::pipe::pipe().unwrap();
    drop(reader);
    let status = std::process::Command::new(env!("CARGO_BIN_EXE_ckptd"))
        .args(args)
        .current_dir(f.path(""))
        .env_remove("CKPTD_LOG")
        .stdin(std::process::Stdio::null())
        .stdout(writer.try_clone().unwrap())
        .stderr(writer)
        .status()
        .unwrap();
    status.code()
}

#[test]
fn a_closed_stdout_or_stderr_never_panics_and_prune_still_deletes() {
    // Issue 10, edges: `ckptd plan | head -1` panicked with exit 101 (println! on a closed
    // pipe); a prune doing so mid-way would leave deletions undone.
    let f = Fixture::new();
    generic_run(&f, &[1, 2, 3, 4, 5]);
    f.config(KEEP_LAST_1);
    for args in [
        &["plan", "--config", "ckptd.toml"][..],
        &["plan", "--json", "--config", "ckptd.toml"],
        &["status", "--config", "ckptd.toml"],
        &["check", "--config", "ckptd.toml"],
        &["--help"],
    ] {
        assert_eq!(with_closed_output(&f, args), Some(0), "{args:?}");
    }
    assert_eq!(
        with_closed_output(&f, &["prune", "--yes", "--config", "ckptd.toml"]),
        Some(0)
    );
    assert_eq!(f.listing("run"), ["ckpt-5.pt"]);
}

#[test]
fn check_reports_every_mistake_at_once_with_what_was_meant() {
    // Issue 10, item 4: serde stopped at the first unknown key or wrong type, so a file with
    // seven mistakes showed one, then six more after it was fixed; no "did you mean".
    let f = Fixture::new();
    f.config(
        r#"[daemon]
rescan_intervall = "5m"

[[watch]]
name = "a"
runs = "/data/runs/*"
layout = "hugingface"
keep_lats = 3
settle = 300
mode = "minn"

[[watch]]
name = "b"
runs = ["/data/b/*"]
layout = "generic"
pattern = "m-{step}.pt"
keep_last = "two"
metric_source = { kind = "csv", pth = "x.csv" }
"#,
    );
    let out = f.ckptd(&["check", "--config", "ckptd.toml"]);
    assert_eq!(out.status.code(), Some(2));
    let err = stderr(&out);
    let lines: Vec<&str> = err
        .lines()
        .map(|l| l.split_once("ckptd.toml:").map_or(l, |(_, rest)| rest))
        .collect();
    assert_eq!(
        lines,
        [
            "2:1: unknown key `rescan_intervall`: did you mean `rescan_interval`?",
            "6:8: `runs` is a list of globs: write runs = [\"/data/runs/*\"]",
            "7:10: unknown layout `hugingface` (did you mean `huggingface`?); expected one of: generic, huggingface, lightning, dcp, deepspeed, megatron, orbax, torchtitan, opensora, nemo",
            "8:1: unknown key `keep_lats`: did you mean `keep_last`?",
            "9:10: `settle` is a duration with its unit, as a string: write settle = \"300s\"",
            "10:8: `mode` = \"minn\" is not one of \"min\", \"max\" (did you mean \"min\"?)",
            "17:13: invalid type: string \"two\", expected a whole number",
            "18:33: unknown key `pth`: did you mean `path`?",
        ],
        "{err}"
    );
    // A single [filesystem] table, likewise.
    std::fs::create_dir_all(f.path("data")).unwrap();
    f.config("[filesystem]\npath = \"data\"\nmin_free = \"10%\"\n\n[[watch]]\nname = \"a\"\nruns = [\"run\"]\nlayout = \"generic\"\npattern = \"x-{step}\"\nkeep_last = 1\n");
    let out = f.ckptd(&["check", "--config", "ckptd.toml"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains(
            "1:1: `[filesystem]` is one table; each filesystem is a `[[filesystem]]` (double brackets)"
        ),
        "{}",
        stderr(&out)
    );
    f.config("[[filesystem]]\npath = \"data\"\nmin_free = \"10%\"\n\n[[watch]]\nname = \"a\"\nruns = [\"run\"]\nlayout = \"generic\"\npattern = \"x-{step}\"\nkeep_last = 1\n");
    let out = f.ckptd(&["check", "--config", "ckptd.toml"]);
    assert!(
        stdout(&out).contains("ckptd.toml: ok (1 watch, 1 filesystem)"),
        "{}{}",
        stdout(&out),
        stderr(&out)
    );
    // A single [watch] table: said as such, not "invalid type: map, expected a sequence".
    f.config("[watch]\nname = \"a\"\nruns = [\"run\"]\nlayout = \"generic\"\npattern = \"x-{step}\"\nkeep_last = 1\n");
    let out = f.ckptd(&["check", "--config", "ckptd.toml"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out)
            .contains("1:1: `[watch]` is one table; each watch is a `[[watch]]` (double brackets)"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn a_directory_name_that_is_not_utf8_under_a_runs_glob_stops_nothing() {
    // Re-check of issue 9 (older than it): glob's leading-dot option panicked on such a name,
    // so anyone able to make a directory there stopped retention. Dot-names stay unmatched.
    use std::os::unix::ffi::OsStrExt;
    let f = Fixture::new();
    let odd = std::ffi::OsStr::from_bytes(b"runs/r\xff");
    std::fs::create_dir_all(f.path("").join(odd)).unwrap();
    std::fs::create_dir_all(f.path("runs/.hidden")).unwrap();
    for step in [1, 2] {
        let name = format!("runs/ok/ckpt-{step}.pt");
        f.write(&name, vec![0u8; 10]);
        f.age(&name, 100 - step);
    }
    f.config("[[watch]]\nname = \"g\"\nruns = [\"runs/*\"]\nlayout = \"generic\"\npattern = \"ckpt-{step}*\"\nkeep_last = 1\n");
    let plan = f.plan_json();
    let runs = planned_runs(&plan);
    assert_eq!(runs.len(), 1, "{plan}");
    assert!(runs[0].ends_with("/runs/ok"), "{plan}");
    let out = f.ckptd(&["prune", "--yes", "--config", "ckptd.toml"]);
    assert_success(&out);
    assert_eq!(f.listing("runs/ok"), ["ckpt-2.pt"]);
}

#[test]
fn a_checkpoint_that_cannot_be_deleted_makes_prune_exit_1_and_says_why() {
    // Issue 10, item 2: a permission failure must not let prune exit 0. Root meets it as an
    // immutable file (chattr +i); skipped where the filesystem has no such flag.
    let f = Fixture::new();
    generic_run(&f, &[1, 2, 3]);
    f.config(KEEP_LAST_1);
    let locked = f.path("run/ckpt-1.pt");
    let set = std::process::Command::new("chattr")
        .arg("+i")
        .arg(&locked)
        .output();
    if !set.as_ref().is_ok_and(|o| o.status.success()) {
        eprintln!("skipped: chattr +i is not available here ({set:?})");
        return;
    }
    let out = f.ckptd(&["prune", "--yes", "--config", "ckptd.toml"]);
    let _ = std::process::Command::new("chattr")
        .arg("-i")
        .arg(&locked)
        .status();
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(
        stdout(&out).contains("deleted 1 checkpoint"),
        "{}",
        stdout(&out)
    );
    assert!(stdout(&out).contains("1 failed"), "{}", stdout(&out));
    assert!(
        stderr(&out).contains("cannot delete checkpoint ckpt-1.pt in ")
            && stderr(&out).contains("an immutable or append-only file"),
        "{}",
        stderr(&out)
    );
    assert_eq!(f.listing("run"), ["ckpt-1.pt", "ckpt-3.pt"]);
}

#[test]
fn prune_run_by_a_user_who_may_not_delete_exits_1_and_names_the_cause() {
    // Issue 10, item 2: the permission failure an unprivileged ckptd meets (root may delete
    // anything): `prune` as `nobody` in a run it can read but not write. Nothing is deleted,
    // every refusal is an ERROR naming the checkpoint, the cause and what to check, and the
    // exit code is 1, not 0.
    let f = Fixture::new();
    generic_run(&f, &[1, 2, 3]);
    // The lock file exists (an earlier root prune left it): nobody opens it to read and locks.
    f.write("run/.ckptd.lock", b"");
    f.config(&format!("{KEEP_LAST_1}settle = \"1s\"\n"));
    std::fs::set_permissions(
        f.dir.path(),
        std::os::unix::fs::PermissionsExt::from_mode(0o755),
    )
    .unwrap();
    let out = std::process::Command::new("setpriv")
        .args(["--reuid=65534", "--regid=65534", "--clear-groups"])
        .arg(env!("CARGO_BIN_EXE_ckptd"))
        .args(["prune", "--yes", "--config", "ckptd.toml"])
        .current_dir(f.dir.path())
        .env_remove("CKPTD_LOG")
        .stdin(std::process::Stdio::null())
        .output();
    let out = match out {
        Ok(out) if !stderr(&out).contains("setpriv:") => out,
        other => {
            eprintln!("skipped: cannot run ckptd as nobody with setpriv ({other:?})");
            return;
        }
    };
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(stdout(&out).contains("2 failed"), "{}", stdout(&out));
    for name in ["ckpt-1.pt", "ckpt-2.pt"] {
        assert!(
            stderr(&out).contains(&format!("cannot delete checkpoint {name} in ")),
            "{}",
            stderr(&out)
        );
    }
    assert!(
        stderr(&out).contains("Permission denied")
            && stderr(&out).contains("check the unit's User= and ReadWritePaths="),
        "{}",
        stderr(&out)
    );
    assert_eq!(f.listing("run"), ["ckpt-1.pt", "ckpt-2.pt", "ckpt-3.pt"]);
}

#[test]
fn a_run_whose_pins_cannot_be_read_is_an_error_and_nothing_in_it_is_deleted() {
    // An unreadable `.ckptd-pins` would otherwise protect nothing. Root reads any directory:
    // a pins "directory" that is a file fails the same way.
    let f = Fixture::new();
    generic_run(&f, &[1, 2, 3]);
    f.write("run/.ckptd-pins", b"");
    f.config(KEEP_LAST_1);
    for command in ["plan", "status"] {
        let out = f.ckptd(&[command, "--config", "ckptd.toml"]);
        assert_eq!(out.status.code(), Some(1), "{command}: {}", stderr(&out));
    }
    let out = f.ckptd(&["prune", "--yes", "--config", "ckptd.toml"]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("ERROR cannot scan run directory")
            && stderr(&out).contains("run/.ckptd-pins"),
        "{}",
        stderr(&out)
    );
    assert_eq!(
        f.listing("run"),
        [".ckptd-pins", "ckpt-1.pt", "ckpt-2.pt", "ckpt-3.pt"]
    );
}

#[test]
fn invalid_run_overrides_delete_nothing_in_that_run_and_prune_exits_1() {
    // The file may say `dry_run = true`, or keep more, beside the line that failed: when in
    // doubt, keep. 0.1 fell back to the watch's keep_last = 1 and deleted two of three.
    let f = Fixture::new();
    generic_run(&f, &[1, 2, 3]);
    f.write("run/.ckptd.toml", "dry_run = true\nkeep_lats = 5\n");
    f.config(&format!("{KEEP_LAST_1}run_overrides = true\n"));
    let out = f.ckptd(&["prune", "--yes", "--config", "ckptd.toml"]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("ERROR run overrides invalid: nothing is deleted in ")
            && stderr(&out).contains("keep_lats"),
        "{}",
        stderr(&out)
    );
    assert_eq!(
        f.listing("run"),
        [".ckptd.toml", "ckpt-1.pt", "ckpt-2.pt", "ckpt-3.pt"]
    );
    // `plan` still shows what the watch's policy would do, and exits 1 for the ERROR.
    let out = f.ckptd(&["plan", "--json", "--config", "ckptd.toml"]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let plan: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(plan["runs"][0]["checkpoints"][0]["decision"], "delete");
}

#[test]
fn a_dry_run_watch_gets_no_second_look_where_the_storage_clock_is_unknown() {
    // With no lock file (a dry run creates none), the storage clock is unknown; only a pass
    // that may delete waits `settle` for a second look.
    let f = Fixture::new();
    generic_run(&f, &[1, 2, 3]);
    f.config(&format!("{KEEP_LAST_1}dry_run = true\nsettle = \"1h\"\n"));
    let out = f.ckptd_within(
        &["prune", "--yes", "--config", "ckptd.toml"],
        Duration::from_mins(1),
    );
    assert_success(&out);
    assert!(!stderr(&out).contains("looking again"), "{}", stderr(&out));
    assert!(
        stdout(&out).contains("dry run: would delete 2 checkpoints"),
        "{}",
        stdout(&out)
    );
    assert_eq!(f.listing("run"), ["ckpt-1.pt", "ckpt-2.pt", "ckpt-3.pt"]);
}

#[test]
fn ctrl_c_stops_prune_after_the_deletion_in_flight() {
    // SIGINT during a prune of checkpoints of 2,000 files each: the rename in flight
    // finishes, no other deletion starts, nothing is left half deleted (not even in the
    // trash), and prune says so and exits 1.
    let f = Fixture::new();
    f.many_file_checkpoints("run", 1..=8, 2000);
    f.config(
        "[[watch]]\nname = \"g\"\nruns = [\"run\"]\nlayout = \"generic\"\npattern = \"ckpt-{step}\"\nkeep_last = 1\n",
    );
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_ckptd"))
        .args(["prune", "--yes", "--config", "ckptd.toml"])
        .current_dir(f.dir.path())
        .env("CKPTD_LOG", "info")
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut err = std::io::BufReader::new(child.stderr.take().unwrap());
    let mut log = String::new();
    while !log.contains("checkpoint deleted") {
        let mut line = String::new();
        assert!(
            std::io::BufRead::read_line(&mut err, &mut line).unwrap() > 0,
            "prune ended before deleting: {log}"
        );
        log.push_str(&line);
    }
    let pid = rustix::process::Pid::from_raw(i32::try_from(child.id()).unwrap()).unwrap();
    rustix::process::kill_process(pid, rustix::process::Signal::INT).unwrap();
    std::io::Read::read_to_string(&mut err, &mut log).unwrap();
    let out = child.wait_with_output().unwrap();
    let summary = String::from_utf8_lossy(&out.stdout);
    let left: Vec<String> = f
        .listing("run")
        .into_iter()
        .filter(|n| n.starts_with("ckpt-"))
        .collect();
    // All seven may be gone before the signal lands on a fast disk; then nothing was left
    // to interrupt, and prune ends as usual.
    if left.len() > 1 {
        assert_eq!(out.status.code(), Some(1), "{summary}\n{log}");
        assert!(
            summary.contains("interrupted: the rest was not deleted"),
            "{summary}"
        );
        assert!(log.contains("not made, left for the next pass"), "{log}");
    }
    for name in &left {
        assert_eq!(
            f.entries(&format!("run/{name}")),
            2000,
            "{name} is not whole"
        );
    }
    assert!(left.contains(&"ckpt-8".to_owned()), "{left:?}");
    assert_eq!(f.entries("run/.ckptd-trash"), 0, "trash left: {log}");
}

#[test]
fn a_dot_pattern_matches_dot_names_but_never_the_directory_itself() {
    // `runs/.*` names dot-directories on purpose; glob also yields `.` and `..` for it, which
    // made `runs` itself (or its parent) a run.
    let f = Fixture::new();
    std::fs::create_dir_all(f.path("runs/.exp")).unwrap();
    std::fs::create_dir_all(f.path("runs/plain")).unwrap();
    f.config("[[watch]]\nname = \"g\"\nruns = [\"runs/.*\"]\nlayout = \"generic\"\npattern = \"ckpt-{step}*\"\nkeep_last = 1\n");
    let plan = f.plan_json();
    let runs = planned_runs(&plan);
    assert_eq!(runs.len(), 1, "{plan}");
    assert!(runs[0].ends_with("/runs/.exp"), "{plan}");
}

#[test]
fn output_that_cannot_be_written_is_a_failure_not_a_success() {
    // Safety review of issue 10: only a closed pipe is quiet; `plan --json > full-disk` must
    // not exit 0 with an empty file.
    let f = Fixture::new();
    generic_run(&f, &[1, 2]);
    f.config(KEEP_LAST_1);
    let Ok(full) = std::fs::OpenOptions::new().write(true).open("/dev/full") else {
        eprintln!("skipped: no /dev/full");
        return;
    };
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_ckptd"))
        .args(["plan", "--json", "--config", "ckptd.toml"])
        .current_dir(f.path(""))
        .env_remove("CKPTD_LOG")
        .stdout(full)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("cannot write the output"),
        "{}",
        stderr(&out)
    );
}

/// The run directories a `plan --json` covers.
fn planned_runs(plan: &serde_json::Value) -> Vec<&str> {
    plan["runs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["run"].as_str().unwrap())
        .collect()
}
