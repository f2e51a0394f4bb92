//! Config parsing and validation: every refusal names the line and column of the culprit.

use std::path::Path;
use std::time::Duration;

use super::{overrides, Config, ConfigErrors, WatcherMode};
use crate::metrics::MetricSource;
use crate::policy::{EveryWindow, Mode};

const FILE: &str = "/etc/ckptd/ckptd.toml";

pub(super) fn parse(text: &str) -> Result<Config, ConfigErrors> {
    Config::parse(text, Path::new(FILE))
}

/// The errors as `line:column: message` strings.
fn errors(text: &str) -> Vec<String> {
    parse(text)
        .expect_err("config should be refused")
        .0
        .iter()
        .map(|e| {
            assert_eq!(e.file, Path::new(FILE));
            format!("{}:{}: {}", e.line, e.column, e.message)
        })
        .collect()
}

/// The one error of the run override `text` over `watch`, which must contain `contains`.
pub(super) fn one_override_error(
    watch: &super::Watch,
    text: &str,
    contains: &str,
) -> super::ConfigError {
    let err = super::overrides::parse(text, Path::new("/r/.ckptd.toml"), watch).unwrap_err();
    assert_eq!(err.0.len(), 1, "{err:?}");
    assert!(
        err.0[0].message.contains(contains),
        "{} should contain {contains}",
        err.0[0].message
    );
    err.0.into_iter().next().unwrap()
}

pub(super) fn assert_one_error(text: &str, location: &str, contains: &str) {
    let errors = errors(text);
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert!(
        errors[0].starts_with(location),
        "{errors:?} should start with {location}"
    );
    assert!(
        errors[0].contains(contains),
        "{errors:?} should contain {contains}"
    );
}

#[test]
fn a_full_config_parses_with_defaults_inherited_field_by_field() {
    let config = parse(
        r#"
[daemon]
rescan_interval = "10m"
state_dir = "state"

[defaults]
settle = "45s"
keep_last = 2
watcher = "poll"

[[watch]]
name = "hf"
runs = ["/data/runs/hf/*", "relative/*"]
layout = "huggingface"
keep_best = 2
metric = "eval_loss"
mode = "min"
keep_every_steps = 10000
keep_every = "1d"
keep_within = "12h"

[[watch]]
name = "custom"
runs = ["/scratch/*/ckpt"]
layout = "generic"
pattern = "model_step{step}.pt"
keep_last = 5
settle = "0s"
metric_source = { kind = "jsonl", path = "../metrics.jsonl", step_key = "step" }
keep_best = 3
metric = "val/loss"
mode = "max"
"#,
    )
    .unwrap();
    assert_eq!(config.daemon.rescan_interval, Duration::from_mins(10));
    assert_eq!(
        config.daemon.state_dir.as_deref(),
        Some(Path::new("/etc/ckptd/state"))
    );
    let hf = &config.watches[0];
    assert_eq!(hf.runs, ["/data/runs/hf/*", "/etc/ckptd/relative/*"]);
    assert_eq!(hf.policy.keep_last, Some(2));
    assert_eq!(hf.policy.settle, Duration::from_secs(45));
    assert_eq!(
        hf.policy.keep_every,
        [EveryWindow {
            window: Duration::from_hours(24),
            count: None
        }]
    );
    assert_eq!(hf.watcher, WatcherMode::Poll);
    assert_eq!(hf.layout.name(), "huggingface");
    assert_eq!(
        hf.metric_source,
        Some(MetricSource::CheckpointJson {
            path: "trainer_state.json".into()
        })
    );
    let custom = &config.watches[1];
    assert_eq!(custom.policy.keep_last, Some(5));
    assert_eq!(custom.policy.settle, Duration::ZERO);
    assert_eq!(custom.policy.keep_best.as_ref().unwrap().mode, Mode::Max);
    assert_eq!(custom.metric_window, 1);
    assert_eq!(
        custom.metric_source,
        Some(MetricSource::Jsonl {
            path: "../metrics.jsonl".into(),
            step_key: "step".into()
        })
    );
}

#[test]
fn unknown_keys_are_refused_at_their_position() {
    assert_one_error(
        "[[watch]]\nname = \"a\"\nruns = [\"/r\"]\nlayout = \"huggingface\"\nkeep_lst = 3\n",
        "5:1:",
        "unknown key `keep_lst`: did you mean `keep_last`?",
    );
}

#[test]
fn toml_syntax_errors_are_located() {
    assert_one_error("[[watch]\nname = 1\n", "1:", "");
}

#[test]
fn wrong_types_are_located() {
    assert_one_error(
        "[[watch]]\nname = \"a\"\nruns = [\"/r\"]\nlayout = \"huggingface\"\nkeep_last = \"three\"\n",
        "5:13:",
        "expected a whole number",
    );
}

#[test]
fn every_semantic_error_is_reported_in_one_pass() {
    let errors = errors(
        r#"[[watch]]
name = "a"
runs = ["/r"]
layout = "huggingface"
keep_last = -1
settle = "soon"

[[watch]]
name = "a"
runs = ["/s"]
layout = "nonsense"
keep_last = 1
"#,
    );
    assert_eq!(errors.len(), 4, "{errors:?}");
    assert!(
        errors[0].starts_with("5:13:")
            && errors[0].contains("`keep_last` must be 0 or more, not -1"),
        "{errors:?}"
    );
    assert!(
        errors[1].starts_with("6:10:") && errors[1].contains("`settle`: `soon` is not a duration"),
        "{errors:?}"
    );
    assert!(
        errors[2].starts_with("9:8:")
            && errors[2].contains("duplicate watch name `a` (first used on line 2)"),
        "{errors:?}"
    );
    assert!(
        errors[3].starts_with("11:10:") && errors[3].contains("unknown layout `nonsense`"),
        "{errors:?}"
    );
}

#[test]
fn keep_best_needs_metric_and_mode() {
    let errors = errors(
        "[[watch]]\nname = \"a\"\nruns = [\"/r\"]\nlayout = \"huggingface\"\nkeep_best = 2\n",
    );
    assert_eq!(errors.len(), 2, "{errors:?}");
    assert!(errors[0].starts_with("5:13:") && errors[0].contains("keep_best needs `metric`"));
    assert!(errors[1].starts_with("5:13:") && errors[1].contains("keep_best needs `mode`"));
}

#[test]
fn a_bad_mode_is_refused() {
    assert_one_error(
        "[[watch]]\nname = \"a\"\nruns = [\"/r\"]\nlayout = \"huggingface\"\nkeep_best = 2\nmetric = \"eval_loss\"\nmode = \"lowest\"\n",
        "7:8:",
        "`mode` = \"lowest\" is not one of \"min\", \"max\"",
    );
}

#[test]
fn an_empty_policy_is_refused() {
    assert_one_error(
        "[[watch]]\nname = \"a\"\nruns = [\"/r\"]\nlayout = \"huggingface\"\n",
        "1:1:",
        "this watch keeps nothing",
    );
}

#[test]
fn keep_last_zero_is_a_policy() {
    let config = parse(
        "[[watch]]\nname = \"a\"\nruns = [\"/r\"]\nlayout = \"huggingface\"\nkeep_last = 0\n",
    )
    .unwrap();
    assert_eq!(config.watches[0].policy.keep_last, Some(0));
}

#[test]
fn zero_where_meaningless_is_refused() {
    let errors = errors(
        "[[watch]]\nname = \"a\"\nruns = [\"/r\"]\nlayout = \"huggingface\"\nkeep_best = 0\nkeep_every_steps = 0\nkeep_every = \"0s\"\nkeep_last = 1\n",
    );
    assert_eq!(errors.len(), 3, "{errors:?}");
    assert!(errors[0].contains("`keep_best` must be 1 or more"));
    assert!(errors[1].contains("`keep_every_steps` must be 1 or more"));
    assert!(errors[2].contains("`keep_every` must be longer than zero"));
}

#[test]
fn generic_needs_a_pattern_and_keep_every_steps_needs_a_step() {
    assert_one_error(
        "[[watch]]\nname = \"a\"\nruns = [\"/r\"]\nlayout = \"generic\"\nkeep_last = 1\n",
        "4:10:",
        "layout \"generic\" needs `pattern`",
    );
    assert_one_error(
        "[[watch]]\nname = \"a\"\nruns = [\"/r\"]\nlayout = \"generic\"\npattern = \"model-{epoch}.pt\"\nkeep_every_steps = 100\n",
        "6:20:",
        "keep_every_steps needs a step",
    );
}

#[test]
fn a_bad_pattern_or_glob_is_located() {
    assert_one_error(
        "[[watch]]\nname = \"a\"\nruns = [\"/r\"]\nlayout = \"generic\"\npattern = \"model-{step.pt\"\nkeep_last = 1\n",
        "5:11:",
        "unclosed",
    );
    assert_one_error(
        "[[watch]]\nname = \"a\"\nruns = [\"/r/[\"]\nlayout = \"huggingface\"\nkeep_last = 1\n",
        "3:9:",
        "invalid glob",
    );
}

#[test]
fn a_filename_metric_must_be_in_the_pattern() {
    assert_one_error(
        "[[watch]]\nname = \"a\"\nruns = [\"/r\"]\nlayout = \"generic\"\npattern = \"model-{step}.pt\"\nkeep_best = 1\nmetric = \"val_loss\"\nmode = \"min\"\n",
        "7:10:",
        "metric `val_loss` is not in the checkpoint names",
    );
    let ok = parse("[[watch]]\nname = \"a\"\nruns = [\"/r\"]\nlayout = \"generic\"\npattern = \"model-{step}-{val_loss}.pt\"\nkeep_best = 1\nmetric = \"val_loss\"\nmode = \"min\"\n");
    assert_eq!(
        ok.unwrap().watches[0].metric_source,
        Some(MetricSource::Filename)
    );
}

#[test]
fn dcp_has_no_metric_source_of_its_own() {
    assert_one_error(
        "[[watch]]\nname = \"a\"\nruns = [\"/r\"]\nlayout = \"dcp\"\npattern = \"step-{step}\"\nkeep_best = 1\nmetric = \"loss\"\nmode = \"min\"\n",
        "7:10:",
        "has no metric source of its own",
    );
}

#[test]
fn metric_source_kinds_are_checked() {
    assert_one_error(
        "[[watch]]\nname = \"a\"\nruns = [\"/r\"]\nlayout = \"huggingface\"\nkeep_last = 1\nmetric_source = { kind = \"sqlite\" }\n",
        "6:26:",
        "unknown metric_source kind `sqlite`",
    );
    assert_one_error(
        "[[watch]]\nname = \"a\"\nruns = [\"/r\"]\nlayout = \"huggingface\"\nkeep_last = 1\nmetric_source = { kind = \"csv\" }\n",
        "6:26:",
        "needs `path`",
    );
}

#[test]
fn tensorboard_takes_a_path_and_a_tag_that_defaults_to_the_metric() {
    let watch = |source: &str| {
        format!("[[watch]]\nname = \"a\"\nruns = [\"/r\"]\nlayout = \"huggingface\"\nkeep_best = 1\nmetric = \"val/loss\"\nmode = \"min\"\nmetric_source = {source}\n")
    };
    let config = parse(&watch(
        r#"{ kind = "tensorboard", path = "tb/*", tag = "validation/loss" }"#,
    ))
    .unwrap();
    assert_eq!(
        config.watches[0].metric_source,
        Some(MetricSource::TensorBoard {
            path: "tb/*".into(),
            tag: Some("validation/loss".into())
        })
    );
    let config = parse(&watch(r#"{ kind = "tensorboard", path = "tb" }"#)).unwrap();
    assert_eq!(
        config.watches[0].metric_source,
        Some(MetricSource::TensorBoard {
            path: "tb".into(),
            tag: None
        })
    );
    assert_one_error(
        &watch(r#"{ kind = "tensorboard", tag = "x" }"#),
        "8:26:",
        "needs `path`",
    );
    assert_one_error(
        &watch(r#"{ kind = "tensorboard", path = "tb", step_key = "iteration" }"#),
        "8:65:",
        "`step_key` is not used",
    );
    assert_one_error(
        &watch(r#"{ kind = "csv", path = "m.csv", tag = "x" }"#),
        "8:55:",
        "`tag` is only for kind = \"tensorboard\"",
    );
}

#[test]
fn presets_without_a_metric_file_need_a_metric_source_for_keep_best() {
    for layout in ["megatron", "torchtitan", "deepspeed", "opensora"] {
        assert_one_error(
            &format!("[[watch]]\nname = \"a\"\nruns = [\"/r\"]\nlayout = \"{layout}\"\nkeep_best = 1\nmetric = \"loss\"\nmode = \"min\"\n"),
            "6:10:",
            "has no metric source of its own",
        );
    }
    for layout in ["orbax", "nemo"] {
        let config = parse(&format!("[[watch]]\nname = \"a\"\nruns = [\"/r\"]\nlayout = \"{layout}\"\nkeep_best = 1\nmetric = \"val_loss\"\nmode = \"min\"\n")).unwrap();
        assert!(config.watches[0].metric_source.is_some(), "{layout}");
    }
}

#[test]
fn fixed_name_presets_refuse_a_pattern_and_deepspeed_and_orbax_take_one() {
    for layout in ["megatron", "torchtitan", "opensora", "nemo"] {
        assert_one_error(
            &format!("[[watch]]\nname = \"a\"\nruns = [\"/r\"]\nlayout = \"{layout}\"\npattern = \"ckpt-{{step}}\"\nkeep_last = 1\n"),
            "4:10:",
            "always names checkpoints",
        );
    }
    for layout in ["deepspeed", "orbax"] {
        let config = parse(&format!("[[watch]]\nname = \"a\"\nruns = [\"/r\"]\nlayout = \"{layout}\"\npattern = \"ckpt_{{step}}\"\nkeep_last = 1\n")).unwrap();
        assert_eq!(config.watches[0].layout.name(), layout);
    }
}

#[test]
fn name_and_runs_do_not_belong_in_defaults() {
    assert_one_error(
        "[defaults]\nname = \"x\"\n[[watch]]\nname = \"a\"\nruns = [\"/r\"]\nlayout = \"huggingface\"\nkeep_last = 1\n",
        "2:8:",
        "belongs in each [[watch]]",
    );
}

#[test]
fn empty_and_root_run_globs_and_endless_durations_are_refused() {
    let errors = errors(
        "[[watch]]\nname = \"a\"\nruns = [\"\", \"/\", \"/..\"]\nlayout = \"huggingface\"\nkeep_last = 1\nsettle = \"500000000000y\"\n",
    );
    assert_eq!(errors.len(), 4, "{errors:?}");
    assert!(
        errors[0].starts_with("3:9:") && errors[0].contains("empty run glob"),
        "{errors:?}"
    );
    assert!(
        errors[1].starts_with("3:13:") && errors[1].contains("root directory cannot be a run"),
        "{errors:?}"
    );
    assert!(
        errors[2].starts_with("3:18:") && errors[2].contains("root directory cannot be a run"),
        "{errors:?}"
    );
    assert!(
        errors[3].starts_with("6:10:") && errors[3].contains("`settle` must be at most 100 years"),
        "{errors:?}"
    );
}

#[test]
fn a_config_without_watches_is_valid_and_idle() {
    let config =
        parse("[daemon]\nrescan_interval = \"5m\"\n").expect("no [[watch]] is a valid config");
    assert!(config.watches.is_empty());
    let warning = config
        .idle_warning()
        .expect("an idle config is said to be idle");
    assert!(warning.contains("/etc/ckptd/ckptd.toml"), "{warning}");
    assert!(warning.contains("[[watch]]"), "{warning}");
}

#[test]
fn a_config_with_watches_is_not_idle() {
    assert_eq!(base_watch("").idle_warning(), None);
}

#[test]
fn a_misspelt_watch_table_is_still_refused() {
    // Only a file without any watch is idle: `[[watches]]` is an unknown key, not zero watches.
    let errors = errors("[[watches]]\nname = \"a\"\n");
    assert!(!errors.is_empty());
    assert!(errors[0].contains("watches"), "{errors:?}");
}

#[test]
fn huggingface_refuses_a_custom_pattern() {
    assert_one_error(
        "[[watch]]\nname = \"a\"\nruns = [\"/r\"]\nlayout = \"huggingface\"\npattern = \"ckpt-{step}\"\nkeep_last = 1\n",
        "4:10:",
        "always names checkpoints",
    );
}

pub(super) fn base_watch(extra: &str) -> Config {
    parse(&format!(
        "[[watch]]\nname = \"a\"\nruns = [\"/r\"]\nlayout = \"huggingface\"\nkeep_last = 3\n{extra}"
    ))
    .unwrap()
}

#[test]
fn run_overrides_merge_policy_keys_field_by_field() {
    let config = base_watch("run_overrides = true\nsettle = \"1m\"\n");
    let watch = &config.watches[0];
    let merged = overrides::parse(
        "keep_best = 1\nmetric = \"eval_loss\"\nmode = \"min\"\n",
        Path::new("/r/.ckptd.toml"),
        watch,
    )
    .unwrap();
    assert_eq!(merged.policy.keep_last, Some(3));
    assert_eq!(merged.policy.settle, Duration::from_mins(1));
    assert_eq!(merged.policy.keep_best.unwrap().metric, "eval_loss");
    assert_eq!(merged.name, "a");
}

#[test]
fn run_overrides_refuse_paths_and_layouts() {
    let config = base_watch("run_overrides = true\n");
    let err = overrides::parse(
        "keep_last = 1\nruns = [\"/etc\"]\n",
        Path::new("/r/.ckptd.toml"),
        &config.watches[0],
    )
    .unwrap_err();
    assert_eq!(err.0.len(), 1);
    assert_eq!(err.0[0].file, Path::new("/r/.ckptd.toml"));
    assert_eq!((err.0[0].line, err.0[0].column), (2, 8));
    assert!(err.0[0].message.contains("`runs` cannot be set per run"));
}

#[test]
fn a_typo_in_a_run_override_names_the_key_meant_and_only_the_keys_a_run_may_set() {
    // Walkthrough of issue 9: the message listed every [[watch]] key.
    let config = base_watch("run_overrides = true\n");
    let err = overrides::parse(
        "keep_last = 10\nkeep_evry = \"1d\"\n",
        Path::new("/r/.ckptd.toml"),
        &config.watches[0],
    )
    .unwrap_err();
    assert_eq!(err.0.len(), 1, "{err}");
    assert_eq!(err.0[0].line, 2, "{err}");
    let message = &err.0[0].message;
    assert!(
        message.starts_with(
            "unknown key `keep_evry`: did you mean `keep_every`? (a run may set: keep_last,"
        ),
        "{message}"
    );
    assert!(!message.contains("metric_source"), "{message}");
}

#[test]
fn run_overrides_are_validated_like_the_watch() {
    let config = base_watch("run_overrides = true\n");
    let err = overrides::parse(
        "keep_best = 2\n",
        Path::new("/r/.ckptd.toml"),
        &config.watches[0],
    )
    .unwrap_err();
    assert!(
        err.to_string()
            .contains("/r/.ckptd.toml:1:13: keep_best needs `metric`"),
        "{err}"
    );
}

#[test]
fn errors_display_as_file_line_column() {
    let err = parse("[[watch]]\nbogus = 1\n").unwrap_err();
    // Every mistake at once: the unknown key, and what the watch lacks.
    assert!(
        err.to_string().contains(
            "/etc/ckptd/ckptd.toml:2:1: unknown key `bogus`; expected one of: name, runs,"
        ),
        "{err}"
    );
    assert!(
        err.to_string()
            .starts_with("/etc/ckptd/ckptd.toml:1:1: missing `name`"),
        "{err}"
    );
}

#[test]
fn max_metric_bytes_takes_a_size_and_refuses_nonsense_where_it_stands() {
    let base =
        "[[watch]]\nname = \"a\"\nruns = [\"/r\"]\nlayout = \"huggingface\"\nkeep_last = 1\n";
    assert_eq!(parse(base).unwrap().watches[0].max_metric_bytes, 32 << 20);
    for (value, bytes) in [("\"1KiB\"", 1024), ("\"2 MB\"", 2_000_000), ("4096", 4096)] {
        let config = parse(&format!("{base}max_metric_bytes = {value}\n")).unwrap();
        assert_eq!(config.watches[0].max_metric_bytes, bytes, "{value}");
    }
    for (value, says) in [
        ("\"lots\"", "`lots` is not a size"),
        ("0", "must be at least 1 byte"),
        ("-5", "must be at least 1 byte, not -5"),
        ("\"0MiB\"", "must be at least 1 byte"),
        ("1.5", "expected a size such as \"32MiB\""),
    ] {
        assert_one_error(
            &format!("{base}max_metric_bytes = {value}\n"),
            "6:20:",
            says,
        );
    }
    // Inherited from [defaults] like every watch key.
    let config = parse(&format!("[defaults]\nmax_metric_bytes = \"1MiB\"\n{base}")).unwrap();
    assert_eq!(config.watches[0].max_metric_bytes, 1 << 20);
}

#[test]
fn a_run_may_raise_max_metric_bytes() {
    let config = base_watch("run_overrides = true\nmax_metric_bytes = \"1MiB\"\n");
    let merged = overrides::parse(
        "max_metric_bytes = \"1GiB\"\n",
        Path::new("/r/.ckptd.toml"),
        &config.watches[0],
    )
    .unwrap();
    assert_eq!(merged.max_metric_bytes, 1 << 30);
    let err = overrides::parse(
        "max_metric_bytes = 0\n",
        Path::new("/r/.ckptd.toml"),
        &config.watches[0],
    )
    .unwrap_err();
    assert!(
        err.to_string()
            .contains("/r/.ckptd.toml:1:20: `max_metric_bytes` must be at least 1 byte"),
        "{err}"
    );
}
