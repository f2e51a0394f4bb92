//! Fuzzes the config loader: `Config::parse` (what `Config::load` and `ckptd check` run on the
//! file's text) and the per-run `.ckptd.toml` override parser applied to each of its watches.
//!
//! Input: the config text, then optionally a NUL byte (which TOML never holds) and a run's
//! override file. Input that is not UTF-8 is skipped: `Config::load` refuses it before
//! parsing (`cannot read config`), as `apply_run_overrides` does an override file. When the
//! config does not validate, the overrides are applied to a fixed valid one.
//!
//! Asserts: no panic; every error points inside the text (line 1..=lines+1, column >= 1) or
//! at the file as a whole (line 0) and prints; a valid config's run globs are absolute and not
//! `/`; overrides either fail with located errors or give a watch whose runs are the watch's.

use std::path::Path;

use ckptd::config::{Config, ConfigErrors};
use ckptd::fuzzing::run_overrides;

/// TOML configs are a few KiB; a bound keeps every run fast.
const MAX_INPUT: usize = 64 << 10;
const BASE: &str = r#"
[[watch]]
name = "base"
runs = ["runs/*"]
layout = "huggingface"
keep_last = 2
keep_best = 1
metric = "eval_loss"
mode = "min"
run_overrides = true
"#;

fn main() {
    afl::fuzz!(|data: &[u8]| one(data));
}

fn one(data: &[u8]) {
    if data.len() > MAX_INPUT {
        return;
    }
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let (config_text, overrides) = match text.split_once('\0') {
        Some((c, o)) => (c, Some(o)),
        None => (text, None),
    };
    let file = Path::new("/fuzz/ckptd.toml");
    let config = match Config::parse(config_text, file) {
        Ok(config) => {
            for watch in &config.watches {
                for run in &watch.runs {
                    assert!(
                        Path::new(run).is_absolute() && run != "/",
                        "run glob {run:?}"
                    );
                }
            }
            config
        }
        Err(errors) => {
            check(&errors, config_text);
            Config::parse(BASE, file).expect("the base config is valid")
        }
    };
    let Some(overrides) = overrides else {
        return;
    };
    let run_file = Path::new("/fuzz/runs/a/.ckptd.toml");
    for watch in &config.watches {
        match run_overrides(overrides, run_file, watch) {
            Ok(merged) => assert_eq!(merged.runs, watch.runs, "overrides changed the runs"),
            Err(errors) => check(&errors, overrides),
        }
    }
}

fn check(errors: &ConfigErrors, text: &str) {
    assert!(!errors.0.is_empty(), "an error without errors");
    let lines = text.lines().count() + 1;
    for error in &errors.0 {
        if error.line > 0 {
            assert!(
                error.line <= lines && error.column >= 1,
                "{}:{} outside {lines} lines: {}",
                error.line,
                error.column,
                error.message
            );
        }
    }
    let _ = errors.to_string();
}
