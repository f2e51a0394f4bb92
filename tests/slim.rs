//! Slimming end to end: `prune` and the daemon remove the training state of checkpoints older
//! than the `slim_after` newest, keep their weights and metadata, record it in
//! `<run>/.ckptd-slim/`, and finish after a `kill -9` in the middle.

mod common;

use common::daemon::{wait_until, Daemon};
use common::{decisions, stdout, Fixture};

/// An HF checkpoint `out/checkpoint-<step>` with weights, metadata and training state (the
/// engine checkpoint of DeepSpeed included), `minutes_ago` old; `rng` extra RNG files.
fn hf_checkpoint(f: &Fixture, step: u64, minutes_ago: u64, rng: usize) {
    let dir = format!("out/checkpoint-{step}");
    for file in [
        "config.json",
        "model.safetensors",
        "optimizer.pt",
        "scheduler.pt",
        "rng_state.pth",
        &format!("global_step{step}/mp_rank_00_model_states.pt"),
        &format!("global_step{step}/zero_pp_rank_0_mp_rank_00_optim_states.pt"),
    ] {
        f.write(&format!("{dir}/{file}"), vec![0u8; 1024]);
    }
    for i in 0..rng {
        f.write(&format!("{dir}/rng_state_{i}.pth"), b"r");
    }
    f.write(
        &format!("{dir}/trainer_state.json"),
        format!(r#"{{"global_step": {step}, "best_model_checkpoint": null, "log_history": []}}"#),
    );
    f.age(&dir, minutes_ago);
}

fn hf_config(f: &Fixture, extra: &str) {
    f.config(&format!(
        "[daemon]\nstate_dir = \"state\"\n\n[[watch]]\nname = \"hf\"\nruns = [\"out\"]\nlayout = \"huggingface\"\nkeep_last = 3\nslim_after = 1\nsettle = \"1s\"\n{extra}"
    ));
}

const WEIGHTS_AND_METADATA: &[&str] = &["config.json", "model.safetensors", "trainer_state.json"];
const TRAINING_STATE: &[&str] = &["optimizer.pt", "scheduler.pt", "rng_state.pth"];

fn record(f: &Fixture, name: &str) -> Option<serde_json::Value> {
    let text = std::fs::read(f.path(&format!("out/.ckptd-slim/{name}"))).ok()?;
    serde_json::from_slice(&text).ok()
}

fn assert_slimmed(f: &Fixture, step: u64) {
    let name = format!("checkpoint-{step}");
    let listing = f.listing(&format!("out/{name}"));
    assert_eq!(listing, WEIGHTS_AND_METADATA, "{name}");
    let record = record(f, &name).unwrap_or_else(|| panic!("no record for {name}"));
    assert_eq!(record["status"], "slimmed", "{record}");
}

fn assert_whole(f: &Fixture, step: u64) {
    let name = format!("checkpoint-{step}");
    let listing = f.listing(&format!("out/{name}"));
    for file in WEIGHTS_AND_METADATA.iter().chain(TRAINING_STATE) {
        assert!(
            listing.iter().any(|n| n == file),
            "{name} lost {file}: {listing:?}"
        );
    }
    assert!(
        listing.contains(&format!("global_step{step}")),
        "{listing:?}"
    );
    assert!(record(f, &name).is_none(), "{name} has a record");
}

#[test]
fn prune_slims_all_but_the_newest_and_a_second_prune_changes_nothing() {
    let f = Fixture::new();
    for (step, age) in [(100, 30), (200, 20), (300, 10)] {
        hf_checkpoint(&f, step, age, 0);
    }
    hf_config(&f, "");
    let out = f.prune();
    assert!(
        stdout(&out).contains("slimmed 2 checkpoints"),
        "{}",
        stdout(&out)
    );
    assert_slimmed(&f, 100);
    assert_slimmed(&f, 200);
    assert_whole(&f, 300);
    assert!(!f.path("out/.ckptd-trash").exists());
    let logged = common::stderr(&out);
    assert!(
        logged.contains("slimmed ") && logged.contains("/out/checkpoint-100: removed 4 entries"),
        "{logged}"
    );

    // `plan` shows them slimmed, in their place: the newest is still checkpoint-300.
    let plan = f.plan_json();
    let d = decisions(&plan, 0);
    assert_eq!(d[0].0, "checkpoint-100");
    assert_eq!(d[0].1, "keep");
    assert_eq!(d[0].2, ["last", "slimmed"]);
    assert_eq!(d[1].2, ["last", "slimmed"]);
    assert_eq!(d[2].1, "keep");
    assert_eq!(d[2].2, ["newest-complete", "last"]);

    let before: Vec<Vec<String>> = [100, 200, 300]
        .iter()
        .map(|s| f.listing(&format!("out/checkpoint-{s}")))
        .collect();
    let records = (record(&f, "checkpoint-100"), record(&f, "checkpoint-200"));
    let again = f.prune();
    assert!(!stdout(&again).contains("slimmed"), "{}", stdout(&again));
    let after: Vec<Vec<String>> = [100, 200, 300]
        .iter()
        .map(|s| f.listing(&format!("out/checkpoint-{s}")))
        .collect();
    assert_eq!(before, after);
    assert_eq!(
        records,
        (record(&f, "checkpoint-100"), record(&f, "checkpoint-200"))
    );
}

#[test]
fn a_dry_run_says_what_it_would_slim_and_removes_nothing() {
    let f = Fixture::new();
    for (step, age) in [(100, 30), (200, 20)] {
        hf_checkpoint(&f, step, age, 0);
    }
    hf_config(&f, "");
    let out = f.ckptd(&["prune", "--dry-run", "--config", "ckptd.toml"]);
    common::assert_success(&out);
    assert!(
        stdout(&out).contains("dry run: would slim 1 checkpoint"),
        "{}",
        stdout(&out)
    );
    assert!(common::stderr(&out).contains("would slim"));
    assert_whole(&f, 100);
    assert!(!f.path("out/.ckptd-slim").exists());
}

#[test]
fn the_daemon_slims_once_and_does_not_take_its_own_change_for_a_new_write() {
    let f = Fixture::new();
    f.mkdir("out");
    f.config("[daemon]\nstate_dir = \"state\"\nrescan_interval = \"1s\"\n\n[[watch]]\nname = \"hf\"\nruns = [\"out\"]\nlayout = \"huggingface\"\nkeep_last = 3\nslim_after = 1\nsettle = \"1s\"\n");
    let d = Daemon::start(&f, &[]);
    for (step, age) in [(100, 30), (200, 20), (300, 10)] {
        hf_checkpoint(&f, step, age, 0);
    }
    wait_until(
        "two slims",
        || {
            record(&f, "checkpoint-200").is_some_and(|r| r["status"] == "slimmed")
                && record(&f, "checkpoint-100").is_some_and(|r| r["status"] == "slimmed")
        },
        || d.log(),
    );
    // A few more passes (rescans every second, and a new file in the run).
    std::thread::sleep(std::time::Duration::from_secs(3));
    f.write("out/notes.txt", b"x");
    std::thread::sleep(std::time::Duration::from_secs(2));
    let log = d.log();
    assert_eq!(d.stop().code(), Some(0));
    assert_slimmed(&f, 100);
    assert_slimmed(&f, 200);
    assert_whole(&f, 300);
    for name in ["checkpoint-100", "checkpoint-200"] {
        let slimmed = format!(
            "slimmed {}: removed",
            f.path(&format!("out/{name}")).display()
        );
        assert_eq!(log.matches(&slimmed).count(), 1, "{name}:\n{log}");
        let complete = format!("checkpoint complete: {name} ");
        assert_eq!(log.matches(&complete).count(), 1, "{name}:\n{log}");
        assert!(
            !log.contains(&format!("{name} is incomplete again")),
            "{log}"
        );
    }
    let ledger = std::fs::read_to_string(f.path("state/ledger.jsonl")).unwrap();
    assert_eq!(
        ledger.matches("\"event\":\"slimming\"").count(),
        2,
        "{ledger}"
    );
    assert_eq!(
        ledger.matches("\"event\":\"slimmed\"").count(),
        2,
        "{ledger}"
    );
}

#[test]
fn kill_9_during_slimming_leaves_no_checkpoint_silently_half_slimmed() {
    let f = Fixture::new();
    // Thousands of RNG files: moving them out one by one takes long enough to be killed.
    for (step, age) in [(100, 30), (200, 20)] {
        hf_checkpoint(&f, step, age, 8000);
    }
    hf_checkpoint(&f, 300, 10, 0);
    hf_config(&f, "");
    let mut d = Daemon::spawn(&f, &[]);
    let slimming = |f: &Fixture| {
        ["checkpoint-100", "checkpoint-200"]
            .iter()
            .any(|n| record(f, n).is_some_and(|r| r["status"] == "slimming"))
    };
    wait_until("a slimming in progress", || slimming(&f), || d.log());
    d.child.kill().unwrap();
    d.child.wait().unwrap();
    let interrupted = slimming(&f);
    eprintln!("killed with a slimming in progress: {interrupted}");

    // Every checkpoint missing training state says so in a record.
    for step in [100, 200] {
        let name = format!("checkpoint-{step}");
        let rng = f
            .listing(&format!("out/{name}"))
            .iter()
            .filter(|n| n.starts_with("rng_state_"))
            .count();
        if rng < 8000 {
            assert!(
                record(&f, &name).is_some(),
                "{name} half slimmed without a record"
            );
        }
        for file in WEIGHTS_AND_METADATA {
            assert!(
                f.path(&format!("out/{name}/{file}")).exists(),
                "{name} lost {file}"
            );
        }
    }
    // `plan` (read-only) shows an interrupted one as slimmed.
    if interrupted {
        let plan = f.plan_json();
        let d = decisions(&plan, 0);
        assert!(
            d.iter().any(|(_, _, r)| r.contains(&"slimmed".to_owned())),
            "{plan}"
        );
    }

    let d = Daemon::start(&f, &[]);
    wait_until(
        "both slimmed",
        || {
            ["checkpoint-100", "checkpoint-200"]
                .iter()
                .all(|n| record(&f, n).is_some_and(|r| r["status"] == "slimmed"))
                && !f.path("out/.ckptd-trash").exists()
        },
        || d.log(),
    );
    let log = d.log();
    assert_eq!(d.stop().code(), Some(0));
    if interrupted {
        assert!(log.contains("finished interrupted slimming"), "{log}");
    }
    assert_slimmed(&f, 100);
    assert_slimmed(&f, 200);
    assert_whole(&f, 300);
}

#[test]
fn deepspeed_loses_its_optimizer_states_and_keeps_its_model_states() {
    let f = Fixture::new();
    for (step, age) in [(100, 30), (200, 20), (300, 10)] {
        let dir = format!("ds/global_step{step}");
        f.write(&format!("{dir}/mp_rank_00_model_states.pt"), vec![0u8; 512]);
        f.write(
            &format!("{dir}/zero_pp_rank_0_mp_rank_00_optim_states.pt"),
            vec![0u8; 2048],
        );
        f.write(
            &format!("{dir}/zero_pp_rank_1_mp_rank_00_optim_states.pt"),
            vec![0u8; 2048],
        );
        f.age(&dir, age);
    }
    f.write("ds/latest", "global_step300");
    f.age("ds/latest", 10);
    f.config("[[watch]]\nname = \"ds\"\nruns = [\"ds\"]\nlayout = \"deepspeed\"\nkeep_last = 2\nslim_after = 1\nsettle = \"1s\"\n");
    let out = f.prune();
    assert!(
        stdout(&out).contains("deleted 1 checkpoint"),
        "{}",
        stdout(&out)
    );
    assert!(
        stdout(&out).contains("slimmed 1 checkpoint"),
        "{}",
        stdout(&out)
    );
    assert!(!f.path("ds/global_step100").exists());
    assert_eq!(
        f.listing("ds/global_step200"),
        ["mp_rank_00_model_states.pt"]
    );
    assert_eq!(f.entries("ds/global_step300"), 3);
}

#[test]
fn generic_slim_files_remove_what_they_match_and_nothing_else() {
    let f = Fixture::new();
    for (step, age) in [(1, 30), (2, 20)] {
        let dir = format!("runs/a/step_{step}");
        f.write(&format!("{dir}/weights.pt"), vec![0u8; 100]);
        f.write(&format!("{dir}/adam.optim"), vec![0u8; 100]);
        f.write(&format!("{dir}/optimizer/state_0.bin"), vec![0u8; 100]);
        f.write(&format!("{dir}/optimizer/keep/inner.optim"), vec![0u8; 100]);
        f.write(&format!("{dir}/notes/x.optim"), vec![0u8; 100]);
        f.age(&dir, age);
    }
    f.config("[[watch]]\nname = \"g\"\nruns = [\"runs/*\"]\nlayout = \"generic\"\npattern = \"step_{step}\"\nkeep_last = 2\nslim_after = 1\nslim_files = [\"optimizer/*\", \"*.optim\"]\nsettle = \"1s\"\n");
    f.prune();
    assert_eq!(
        f.listing("runs/a/step_1"),
        ["notes", "optimizer", "weights.pt"]
    );
    assert_eq!(f.entries("runs/a/step_1/optimizer"), 0);
    assert!(f.path("runs/a/step_1/notes/x.optim").exists());
    assert_eq!(f.entries("runs/a/step_2"), 4);
    // The records' directory is never taken for a checkpoint, even by a pattern that could.
    let plan = f.plan_json();
    let names: Vec<String> = decisions(&plan, 0).into_iter().map(|d| d.0).collect();
    assert_eq!(names, ["step_1", "step_2"]);
}

#[test]
fn a_checkpoint_written_again_after_slimming_is_a_new_write_and_is_slimmed_again() {
    let f = Fixture::new();
    for (step, age) in [(100, 30), (200, 20)] {
        hf_checkpoint(&f, step, age, 0);
    }
    hf_config(&f, "");
    f.prune();
    assert_slimmed(&f, 100);
    // A trainer re-saves the same name (a resume that went back in steps).
    hf_checkpoint(&f, 100, 25, 0);
    let plan = f.plan_json();
    let d = decisions(&plan, 0);
    assert_eq!(d[0].0, "checkpoint-100");
    assert_eq!(d[0].2, ["last", "slim"], "{plan}");
    f.prune();
    assert_slimmed(&f, 100);
    let record = record(&f, "checkpoint-100").unwrap();
    assert_eq!(record["entries"].as_array().unwrap().len(), 4, "{record}");
}
