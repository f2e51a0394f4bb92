//! The framework presets (deepspeed, megatron, orbax, torchtitan, opensora, nemo) on trees that
//! reproduce each framework's real names, completion markers and pointer files, with
//! TensorBoard metrics from real event files (megatron, torchtitan): the exact `plan --json`
//! decisions, and what `prune` leaves on disk, including the checkpoints still being written
//! and the pointed-at ones.

mod common;

use std::path::{Path, PathBuf};

use common::{decisions, row, Fixture};

/// A committed event file of tests/fixtures/tensorboard.
fn tb_fixture(relative: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/tensorboard")
        .join(relative)
}

const EVENTS: &str = "events.out.tfevents.1700000000.node1.4242.0";

/// Copies a fixture event file to `relative` in the test tree.
fn copy_events(f: &Fixture, fixture: &str, relative: &str) {
    let to = f.path(relative);
    std::fs::create_dir_all(to.parent().unwrap()).unwrap();
    std::fs::copy(tb_fixture(fixture), to).unwrap();
}

/// Writes each of `files` (relative to `dir`) with a few bytes, then ages the whole directory.
fn unit(f: &Fixture, dir: &str, files: &[&str], minutes_ago: u64) {
    for file in files {
        f.write(&format!("{dir}/{file}"), vec![1u8; 32]);
    }
    f.age(dir, minutes_ago);
}

#[test]
fn deepspeed_latest_protects_its_tag_and_higher_tags_are_in_progress() {
    let f = Fixture::new();
    let shards = [
        "mp_rank_00_model_states.pt",
        "bf16_zero_pp_rank_0_mp_rank_00_optim_states.pt",
        "bf16_zero_pp_rank_1_mp_rank_00_optim_states.pt",
    ];
    for (step, minutes) in [(100, 50), (200, 40), (300, 30), (400, 20)] {
        unit(&f, &format!("ds/global_step{step}"), &shards, minutes);
    }
    // Rank 0 writes `latest` (the tag, no newline) after every rank's files are written.
    f.write("ds/latest", "global_step400");
    // The save of step 500 has every file and has settled, but `latest` does not name it yet.
    unit(&f, "ds/global_step500", &shards, 10);
    f.write("ds/zero_to_fp32.py", "#!/usr/bin/env python\n");
    f.config("[[watch]]\nname = \"ds\"\nruns = [\"ds\"]\nlayout = \"deepspeed\"\nkeep_last = 1\n");

    let plan = f.plan_json();
    assert_eq!(
        decisions(&plan, 0),
        [
            row("global_step100", "delete", &["unkept"]),
            row("global_step200", "delete", &["unkept"]),
            // `latest`'s tag fills the keep_last slot (DESIGN invariant 4; 0.1 kept 300 too):
            // keep_last = 1 leaves exactly one tag.
            row("global_step300", "delete", &["unkept"]),
            row(
                "global_step400",
                "keep",
                &["newest-complete", "pointer", "last"]
            ),
            row("global_step500", "keep", &["incomplete"]),
        ]
    );
    assert_eq!(
        plan["runs"][0]["checkpoints"][4]["detail"],
        "being written: `latest` still names global_step400"
    );
    f.prune();
    assert_eq!(
        f.listing("ds"),
        [
            "global_step400",
            "global_step500",
            "latest",
            "zero_to_fp32.py"
        ]
    );
}

#[test]
fn deepspeed_without_latest_trusts_no_tag() {
    let f = Fixture::new();
    unit(&f, "ds/global_step100", &["mp_rank_00_model_states.pt"], 30);
    unit(&f, "ds/global_step200", &["mp_rank_00_model_states.pt"], 20);
    f.config("[[watch]]\nname = \"ds\"\nruns = [\"ds\"]\nlayout = \"deepspeed\"\nkeep_last = 1\n");
    assert_eq!(
        decisions(&f.plan_json(), 0),
        [
            row("global_step100", "keep", &["incomplete"]),
            row("global_step200", "keep", &["incomplete"]),
        ]
    );
}

/// A Megatron `torch_dist` save: shards, DCP `.metadata`, `common.pt`, then `metadata.json`.
const TORCH_DIST: [&str; 5] = [
    "__0_0.distcp",
    "__1_0.distcp",
    ".metadata",
    "common.pt",
    "metadata.json",
];

#[test]
fn megatron_torch_dist_with_tensorboard_validation_loss() {
    let f = Fixture::new();
    for (it, minutes) in [(100, 50), (200, 40), (300, 30), (400, 20), (500, 15)] {
        unit(
            &f,
            &format!("gpt/checkpoints/iter_{it:07}"),
            &TORCH_DIST,
            minutes,
        );
    }
    // An async save still writing its shards: common.pt is there, metadata.json is not.
    unit(
        &f,
        "gpt/checkpoints/iter_0000600",
        &["common.pt", "__0_0.distcp"],
        10,
    );
    f.write("gpt/checkpoints/latest_checkpointed_iteration.txt", "500");
    f.write(
        "gpt/checkpoints/progress.txt",
        "Saved checkpoint\tIteration: 500\n",
    );
    // A converted release checkpoint: no iteration, never a checkpoint.
    unit(
        &f,
        "gpt/checkpoints/release",
        &["mp_rank_00/model_optim_rng.pt"],
        600,
    );
    // `--tensorboard-dir`: "lm loss validation" at iterations 100..500 = 3.2 2.9 3.0 2.7 2.8.
    copy_events(
        &f,
        &format!("megatron/{EVENTS}"),
        &format!("gpt/tensorboard/{EVENTS}"),
    );
    f.config(
        r#"[[watch]]
name = "gpt"
runs = ["gpt/checkpoints"]
layout = "megatron"
keep_last = 1
keep_best = 2
metric = "lm loss validation"
mode = "min"
metric_source = { kind = "tensorboard", path = "../tensorboard" }
"#,
    );

    let plan = f.plan_json();
    assert_eq!(
        decisions(&plan, 0),
        [
            row("iter_0000100", "delete", &["unkept"]),
            // The tracker's iteration is ranked like any other (0.1 left it out, and kept the
            // third best, 200, too): the best two are 400 (2.7) and 500 (2.8).
            row("iter_0000200", "delete", &["unkept"]),
            row("iter_0000300", "delete", &["unkept"]),
            row("iter_0000400", "keep", &["best"]),
            row(
                "iter_0000500",
                "keep",
                &["newest-complete", "pointer", "last", "best"]
            ),
            row("iter_0000600", "keep", &["incomplete"]),
        ]
    );
    let cps = &plan["runs"][0]["checkpoints"];
    assert!((cps[1]["metric"].as_f64().unwrap() - 2.9).abs() < 1e-6);
    assert_eq!(
        cps[5]["detail"],
        "torch_dist: metadata.json not written yet"
    );
    f.prune();
    assert_eq!(
        f.listing("gpt/checkpoints"),
        [
            "iter_0000400",
            "iter_0000500",
            "iter_0000600",
            "latest_checkpointed_iteration.txt",
            "progress.txt",
            "release"
        ]
    );
}

#[test]
fn megatron_legacy_iterations_above_the_tracker_are_in_progress() {
    let f = Fixture::new();
    let legacy = [
        "mp_rank_00/model_optim_rng.pt",
        "mp_rank_00/distrib_optim.pt",
        "mp_rank_01/model_optim_rng.pt",
        "mp_rank_01/distrib_optim.pt",
    ];
    for (it, minutes) in [(1000, 40), (2000, 30), (3000, 20), (4000, 10)] {
        unit(&f, &format!("ckpt/iter_{it:07}"), &legacy, minutes);
    }
    f.write("ckpt/latest_checkpointed_iteration.txt", "3000");
    f.config("[[watch]]\nname = \"m\"\nruns = [\"ckpt\"]\nlayout = \"megatron\"\nkeep_last = 1\n");
    let plan = f.plan_json();
    assert_eq!(
        decisions(&plan, 0),
        [
            row("iter_0001000", "delete", &["unkept"]),
            row("iter_0002000", "delete", &["unkept"]),
            row(
                "iter_0003000",
                "keep",
                &["newest-complete", "pointer", "last"]
            ),
            row("iter_0004000", "keep", &["incomplete"]),
        ]
    );
    assert_eq!(
        plan["runs"][0]["checkpoints"][3]["detail"],
        "being written: latest_checkpointed_iteration.txt says 3000"
    );
    f.prune();
    assert_eq!(
        f.listing("ckpt"),
        [
            "iter_0003000",
            "iter_0004000",
            "latest_checkpointed_iteration.txt"
        ]
    );
}

/// An Orbax step: step metadata (committed), the state item, and its metrics.
fn orbax_step(f: &Fixture, dir: &str, loss: f64, minutes_ago: u64) {
    f.write(
        &format!("{dir}/_CHECKPOINT_METADATA"),
        r#"{"item_handlers": {"default": "orbax.checkpoint._src.handlers.pytree_checkpoint_handler.PyTreeCheckpointHandler", "metrics": "orbax.checkpoint._src.handlers.json_checkpoint_handler.JsonCheckpointHandler"}, "metrics": {}, "performance_metrics": {}, "init_timestamp_nsecs": 1700000000000000000, "commit_timestamp_nsecs": 1700000005000000000, "custom_metadata": {}}"#,
    );
    for file in [
        "default/_METADATA",
        "default/_sharding",
        "default/manifest.ocdbt",
        "default/ocdbt.process_0/manifest.ocdbt",
        "default/ocdbt.process_0/d/0a1b2c",
    ] {
        f.write(&format!("{dir}/{file}"), vec![2u8; 32]);
    }
    f.write(
        &format!("{dir}/metrics/metrics"),
        format!(r#"{{"loss": {loss}, "accuracy": 0.5}}"#),
    );
    f.age(dir, minutes_ago);
}

#[test]
fn orbax_atomic_rename_steps_with_their_metrics() {
    let f = Fixture::new();
    for (step, loss, minutes) in [
        (1000, 0.9, 50),
        (2000, 0.3, 40),
        (3000, 0.5, 30),
        (4000, 0.6, 20),
    ] {
        orbax_step(&f, &format!("jax/{step}"), loss, minutes);
    }
    // Being written under its temporary name, renamed to `5000` when done.
    f.write(
        "jax/5000.orbax-checkpoint-tmp/_CHECKPOINT_METADATA",
        r#"{"init_timestamp_nsecs": 1700000000000000000, "commit_timestamp_nsecs": null}"#,
    );
    f.write("jax/5000.orbax-checkpoint-tmp/default/_METADATA", "{}");
    f.age("jax/5000.orbax-checkpoint-tmp", 10);
    f.write("jax/_ROOT_METADATA", "{}");
    f.config("[[watch]]\nname = \"jax\"\nruns = [\"jax\"]\nlayout = \"orbax\"\nkeep_last = 1\nkeep_best = 1\nmetric = \"loss\"\nmode = \"min\"\n");
    let plan = f.plan_json();
    assert_eq!(
        decisions(&plan, 0),
        [
            row("1000", "delete", &["unkept"]),
            row("2000", "keep", &["best"]),
            row("3000", "delete", &["unkept"]),
            row("4000", "keep", &["newest-complete", "last"]),
        ]
    );
    assert_eq!(plan["runs"][0]["checkpoints"][1]["metric"], 0.3);
    f.prune();
    assert_eq!(
        f.listing("jax"),
        [
            "2000",
            "4000",
            "5000.orbax-checkpoint-tmp",
            "_ROOT_METADATA"
        ]
    );
}

#[test]
fn orbax_commit_file_steps_need_commit_success() {
    let f = Fixture::new();
    for (step, minutes) in [(100, 30), (200, 20)] {
        orbax_step(&f, &format!("gcs/checkpoint_{step}"), 0.5, minutes);
        f.write(
            &format!("gcs/checkpoint_{step}/commit_success.txt"),
            format!("Checkpoint commit was successful to gs://bucket/run/checkpoint_{step}"),
        );
        f.age(&format!("gcs/checkpoint_{step}"), minutes);
    }
    // Written in place (no temporary name): not committed until commit_success.txt appears.
    f.write(
        "gcs/checkpoint_300/_CHECKPOINT_METADATA",
        r#"{"init_timestamp_nsecs": 1700000000000000000, "commit_timestamp_nsecs": null}"#,
    );
    f.write("gcs/checkpoint_300/default/_METADATA", "{}");
    f.age("gcs/checkpoint_300", 10);
    // Not a step: an evaluation directory beside them (once any `<word>_<digits>` matched).
    f.write("gcs/eval_500/results.json", "{}");
    f.age("gcs/eval_500", 5);
    f.config("[[watch]]\nname = \"gcs\"\nruns = [\"gcs\"]\nlayout = \"orbax\"\npattern = \"checkpoint_{step}\"\nkeep_last = 1\n");
    let plan = f.plan_json();
    assert_eq!(
        decisions(&plan, 0),
        [
            row("checkpoint_100", "delete", &["unkept"]),
            row("checkpoint_200", "keep", &["newest-complete", "last"]),
            row("checkpoint_300", "keep", &["incomplete"]),
        ]
    );
    f.prune();
    assert_eq!(
        f.listing("gcs"),
        ["checkpoint_200", "checkpoint_300", "eval_500"]
    );
}

#[test]
fn torchtitan_dcp_and_hf_saves_with_tensorboard_validation() {
    let f = Fixture::new();
    let dcp = ["__0_0.distcp", "__1_0.distcp", ".metadata"];
    for (step, minutes) in [(100, 50), (200, 40), (300, 30)] {
        unit(
            &f,
            &format!("outputs/checkpoint/step-{step}"),
            &dcp,
            minutes,
        );
    }
    // last_save_in_hf: safetensors shards and their index.
    unit(
        &f,
        "outputs/checkpoint/step-400",
        &[
            "model-00001-of-00002.safetensors",
            "model-00002-of-00002.safetensors",
            "model.safetensors.index.json",
        ],
        20,
    );
    // Shards written and settled, .metadata not yet.
    unit(
        &f,
        "outputs/checkpoint/step-500",
        &["__0_0.distcp", "__1_0.distcp"],
        10,
    );
    // validation_metrics/loss at 100..400 = 2.5 2.2 2.4 2.1.
    copy_events(
        &f,
        &format!("torchtitan/{EVENTS}"),
        &format!("outputs/tb/20250101-1200/{EVENTS}"),
    );
    f.config(
        r#"[[watch]]
name = "titan"
runs = ["outputs/checkpoint"]
layout = "torchtitan"
keep_last = 1
keep_best = 2
metric = "validation_metrics/loss"
mode = "min"
metric_source = { kind = "tensorboard", path = "../tb/*" }
"#,
    );
    let plan = f.plan_json();
    assert_eq!(
        decisions(&plan, 0),
        [
            row("step-100", "delete", &["unkept"]),
            row("step-200", "keep", &["best"]),
            row("step-300", "delete", &["unkept"]),
            row("step-400", "keep", &["newest-complete", "last", "best"]),
            row("step-500", "keep", &["incomplete"]),
        ]
    );
    f.prune();
    assert_eq!(
        f.listing("outputs/checkpoint"),
        ["step-200", "step-400", "step-500"]
    );
}

/// An Open-Sora save: booster shards, running states, EMA, sampler state.
const OPENSORA: [&str; 7] = [
    "model/model.safetensors.index.json",
    "model/model-00001.safetensors",
    "optimizer/pytorch_optim.bin.index.json",
    "optimizer/pytorch_optim-00001.bin",
    "lr_scheduler",
    "ema.pt",
    "sampler",
];

#[test]
fn opensora_needs_running_states_and_ema() {
    let f = Fixture::new();
    let run = "outputs/001-STDiT3-XL-2";
    // Emptied by Open-Sora's own rotation, which keeps `eval/`: never complete, never deleted.
    unit(
        &f,
        &format!("{run}/epoch0-global_step500"),
        &["eval/samples.json"],
        60,
    );
    for (name, minutes) in [
        ("epoch0-global_step1000", 50),
        ("epoch0-global_step2000", 40),
        ("epoch1-global_step3000", 30),
    ] {
        let dir = format!("{run}/{name}");
        unit(&f, &dir, &OPENSORA, minutes);
        let step: u64 = name.rsplit("step").next().unwrap().parse().unwrap();
        f.write(
            &format!("{dir}/running_states.json"),
            format!(
                "{{\n    \"epoch\": 0,\n    \"step\": 10,\n    \"global_step\": {step},\n    \"batch_size\": 4\n}}"
            ),
        );
        f.age(&dir, minutes);
    }
    // Rank 0 wrote running_states.json; the EMA weights are not there yet.
    let dir = format!("{run}/epoch1-global_step4000");
    unit(&f, &dir, &OPENSORA[..5], 10);
    f.write(
        &format!("{dir}/running_states.json"),
        r#"{"epoch": 1, "step": 1000, "global_step": 4000, "batch_size": 4}"#,
    );
    f.age(&dir, 10);
    f.write(&format!("{run}/config.txt"), "model = STDiT3-XL/2\n");
    f.config(&format!(
        "[[watch]]\nname = \"sora\"\nruns = [\"{run}\"]\nlayout = \"opensora\"\nkeep_last = 1\nkeep_every_steps = 3000\n"
    ));
    let plan = f.plan_json();
    // Milestones: the first complete checkpoint of steps [0, 3000) and of [3000, 6000).
    assert_eq!(
        decisions(&plan, 0),
        [
            row("epoch0-global_step500", "keep", &["incomplete"]),
            row("epoch0-global_step1000", "keep", &["every-steps"]),
            row("epoch0-global_step2000", "delete", &["unkept"]),
            row(
                "epoch1-global_step3000",
                "keep",
                &["newest-complete", "last", "every-steps"]
            ),
            row("epoch1-global_step4000", "keep", &["incomplete"]),
        ]
    );
    assert_eq!(
        plan["runs"][0]["checkpoints"][4]["detail"],
        "EMA weights (ema.pt or ema.safetensors) not written yet"
    );
    f.prune();
    assert_eq!(
        f.listing(run),
        [
            "config.txt",
            "epoch0-global_step1000",
            "epoch0-global_step500",
            "epoch1-global_step3000",
            "epoch1-global_step4000"
        ]
    );
}

#[test]
fn nemo_last_is_an_alias_and_unfinished_markers_mean_in_progress() {
    let f = Fixture::new();
    let run = "nemo_experiments/megatron_gpt/2025-01-01_12-00-00/checkpoints";
    let files = [
        "weights/__0_0.distcp",
        "weights/.metadata",
        "weights/common.pt",
        "weights/metadata.json",
        "context/io.json",
        "context/model.yaml",
    ];
    let name = |loss: &str, step: u64| {
        format!(
            "megatron_gpt--val_loss={loss}-step={step}-consumed_samples={}.0",
            step * 8
        )
    };
    for (loss, step, minutes) in [
        ("2.10", 1000, 50),
        ("1.80", 2000, 40),
        ("1.95", 3000, 30),
        ("1.90", 4000, 20),
    ] {
        unit(&f, &format!("{run}/{}", name(loss, step)), &files, minutes);
    }
    // save_last: a full second copy of the newest checkpoint, written after it.
    unit(
        &f,
        &format!("{run}/{}-last", name("1.90", 4000)),
        &files,
        19,
    );
    // A save in progress: NeMo touched the marker before writing.
    unit(
        &f,
        &format!("{run}/{}", name("1.85", 5000)),
        &files[..2],
        10,
    );
    f.write(&format!("{run}/{}-unfinished", name("1.85", 5000)), "");
    f.config(&format!(
        "[[watch]]\nname = \"nemo\"\nruns = [\"{run}\"]\nlayout = \"nemo\"\nkeep_last = 1\nkeep_best = 1\nmetric = \"val_loss\"\nmode = \"min\"\n"
    ));
    let plan = f.plan_json();
    assert_eq!(
        decisions(&plan, 0),
        [
            row(&name("2.10", 1000), "delete", &["unkept"]),
            row(&name("1.80", 2000), "keep", &["best"]),
            row(&name("1.95", 3000), "delete", &["unkept"]),
            row(&name("1.90", 4000), "keep", &["newest-complete", "last"]),
            // Protected, never counted: it does not take "last" from the real step 4000.
            row(&format!("{}-last", name("1.90", 4000)), "keep", &["alias"]),
            row(&name("1.85", 5000), "keep", &["incomplete"]),
        ]
    );
    assert_eq!(plan["runs"][0]["checkpoints"][1]["metric"], 1.8);
    f.prune();
    assert_eq!(
        f.listing(run),
        [
            name("1.80", 2000),
            name("1.85", 5000),
            format!("{}-unfinished", name("1.85", 5000)),
            name("1.90", 4000),
            format!("{}-last", name("1.90", 4000)),
        ]
    );
}

#[test]
fn nemo1_default_names_have_an_epoch_and_no_step() {
    let f = Fixture::new();
    let run = "nemo_experiments/megatron_gpt/checkpoints";
    for (name, minutes) in [
        ("megatron_gpt--val_loss=2.10-epoch=0.ckpt", 50),
        ("megatron_gpt--val_loss=1.80-epoch=1.ckpt", 40),
        ("megatron_gpt--val_loss=1.95-epoch=2.ckpt", 30),
        ("megatron_gpt--val_loss=1.95-epoch=2-last.ckpt", 29),
        ("megatron_gpt--val_loss=1.85-epoch=3.ckpt", 10),
    ] {
        f.write(&format!("{run}/{name}"), vec![3u8; 64]);
        f.age(&format!("{run}/{name}"), minutes);
    }
    f.write(
        &format!("{run}/megatron_gpt--val_loss=1.85-epoch=3-unfinished"),
        "",
    );
    f.write("nemo_experiments/megatron_gpt/megatron_gpt.nemo", "x");
    f.config(&format!(
        "[[watch]]\nname = \"nemo1\"\nruns = [\"{run}\"]\nlayout = \"nemo\"\nkeep_last = 1\nkeep_best = 1\nmetric = \"val_loss\"\nmode = \"min\"\n"
    ));
    let plan = f.plan_json();
    // Without steps, the order is by completion time.
    assert_eq!(
        decisions(&plan, 0),
        [
            row(
                "megatron_gpt--val_loss=2.10-epoch=0.ckpt",
                "delete",
                &["unkept"]
            ),
            row(
                "megatron_gpt--val_loss=1.80-epoch=1.ckpt",
                "keep",
                &["best"]
            ),
            row(
                "megatron_gpt--val_loss=1.95-epoch=2.ckpt",
                "keep",
                &["newest-complete", "last"]
            ),
            row(
                "megatron_gpt--val_loss=1.95-epoch=2-last.ckpt",
                "keep",
                &["alias"]
            ),
            row(
                "megatron_gpt--val_loss=1.85-epoch=3.ckpt",
                "keep",
                &["incomplete"]
            ),
        ]
    );
    assert_eq!(
        plan["runs"][0]["checkpoints"][0]["step"],
        serde_json::Value::Null
    );
    f.prune();
    assert_eq!(
        f.listing(run),
        [
            "megatron_gpt--val_loss=1.80-epoch=1.ckpt",
            "megatron_gpt--val_loss=1.85-epoch=3-unfinished",
            "megatron_gpt--val_loss=1.85-epoch=3.ckpt",
            "megatron_gpt--val_loss=1.95-epoch=2-last.ckpt",
            "megatron_gpt--val_loss=1.95-epoch=2.ckpt",
        ]
    );
}

#[test]
fn deepspeed_an_empty_latest_keeps_every_tag_and_warns_once() {
    // Issue 9: a crash between opening `latest` and writing it leaves it empty; 0.1 said
    // "`latest` not written yet", which is not what happened.
    let f = Fixture::new();
    for (step, minutes) in [(100, 30), (200, 20), (300, 10)] {
        unit(
            &f,
            &format!("ds/global_step{step}"),
            &["mp_rank_00_model_states.pt"],
            minutes,
        );
    }
    f.write("ds/latest", "");
    f.config("[[watch]]\nname = \"ds\"\nruns = [\"ds\"]\nlayout = \"deepspeed\"\nkeep_last = 1\n");
    let out = f.ckptd(&["plan", "--config", "ckptd.toml", "--json"]);
    let plan: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    for i in 0..3 {
        assert_eq!(plan["runs"][0]["checkpoints"][i]["decision"], "keep");
        assert_eq!(
            plan["runs"][0]["checkpoints"][i]["detail"],
            "`latest` is empty (a save crashed between opening and writing it?): no tag is known complete"
        );
    }
    let err = common::stderr(&out);
    assert_eq!(err.matches("is empty (a save crashed").count(), 1, "{err}");
}
