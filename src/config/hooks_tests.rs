//! The hook keys: argv arrays with an absolute program, a timeout, inherited from
//! `[defaults]`, never set by a run's `.ckptd.toml`.

use std::time::Duration;

use super::tests::{assert_one_error, one_override_error, parse};
use super::HOOK_TIMEOUT;

fn watch(extra: &str) -> String {
    format!("[[watch]]\nname = \"a\"\nruns = [\"/r\"]\nlayout = \"huggingface\"\nkeep_last = 3\n{extra}")
}

#[test]
fn hooks_are_argv_arrays_with_a_timeout() {
    let config = parse(&watch(
        "on_complete = [\"/usr/local/bin/notify\", \"--to\", \"ops; rm -rf /\"]\nbefore_delete = [\"/bin/true\"]\nhook_timeout = \"5s\"\n",
    ))
    .unwrap();
    let hooks = &config.watches[0].hooks;
    assert_eq!(
        hooks.on_complete.as_deref(),
        Some(
            &[
                "/usr/local/bin/notify".to_owned(),
                "--to".to_owned(),
                "ops; rm -rf /".to_owned()
            ][..]
        )
    );
    assert_eq!(
        hooks.before_delete.as_deref(),
        Some(&["/bin/true".to_owned()][..])
    );
    assert_eq!(hooks.timeout, Duration::from_secs(5));

    let config = parse(&watch("")).unwrap();
    assert_eq!(config.watches[0].hooks.on_complete, None);
    assert_eq!(config.watches[0].hooks.before_delete, None);
    assert_eq!(config.watches[0].hooks.timeout, HOOK_TIMEOUT);
}

#[test]
fn defaults_give_a_hook_to_every_watch() {
    let text = "[defaults]\nbefore_delete = [\"/usr/bin/backup\"]\n\n[[watch]]\nname = \"a\"\nruns = [\"/r\"]\nlayout = \"huggingface\"\nkeep_last = 3\n";
    let config = parse(text).unwrap();
    assert_eq!(
        config.watches[0].hooks.before_delete.as_deref(),
        Some(&["/usr/bin/backup".to_owned()][..])
    );
}

#[test]
fn bad_hooks_are_refused_where_they_are_written() {
    assert_one_error(
        &watch("before_delete = [\"backup.sh\", \"x\"]\n"),
        "6:18:",
        "`before_delete`: the program \"backup.sh\" must be an absolute path",
    );
    assert_one_error(
        &watch("on_complete = []\n"),
        "6:15:",
        "`on_complete` is empty",
    );
    assert_one_error(
        &watch("on_complete = \"/bin/notify --x\"\n"),
        "6:15:",
        "`on_complete` is a command as an array, program first, run without a shell: write on_complete = [\"/bin/notify\", \"--x\"]",
    );
    assert_one_error(
        &watch("hook_timeout = \"5s\"\n"),
        "6:16:",
        "`hook_timeout` does nothing without `on_complete` or `before_delete`",
    );
    assert_one_error(
        &watch("before_delete = [\"/bin/true\"]\nhook_timeout = \"0s\"\n"),
        "7:16:",
        "`hook_timeout` must be longer than zero",
    );
}

#[test]
fn hooks_cannot_be_set_per_run() {
    let config = parse(&watch("run_overrides = true\n")).unwrap();
    let error = one_override_error(
        &config.watches[0],
        "before_delete = [\"/bin/true\"]\n",
        "`before_delete` cannot be set per run",
    );
    assert_eq!((error.line, error.column), (1, 17));
}
