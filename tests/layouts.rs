//! Each layout on a realistic tree with the framework's real file names, markers, pointers and
//! metric files: the exact `plan --json` decisions, and what `prune` leaves on disk.

mod common;

use common::{decisions, row, Fixture};

/// A Transformers `Trainer` output dir: `checkpoint-N/` with the files the Trainer writes.
fn hf_checkpoint(f: &Fixture, step: u64, eval_loss: Option<f64>, best: &str, minutes_ago: u64) {
    let dir = format!("out/checkpoint-{step}");
    for file in [
        "config.json",
        "generation_config.json",
        "model.safetensors",
        "optimizer.pt",
        "scheduler.pt",
        "rng_state.pth",
        "training_args.bin",
    ] {
        f.write(&format!("{dir}/{file}"), vec![0u8; 64]);
    }
    let mut history = Vec::new();
    for s in (500..=step).step_by(500) {
        history.push(format!(r#"{{"epoch": 0.5, "grad_norm": 1.5, "learning_rate": 5e-05, "loss": 2.1, "step": {s}}}"#));
        if s == step {
            if let Some(v) = eval_loss {
                history.push(format!(r#"{{"epoch": 0.5, "eval_loss": {v}, "eval_runtime": 3.2, "eval_samples_per_second": 100.0, "step": {s}}}"#));
            }
        }
    }
    f.write(
        &format!("{dir}/trainer_state.json"),
        format!(
            r#"{{"best_metric": 0.4, "best_model_checkpoint": "{best}", "epoch": 0.5, "eval_steps": 500, "global_step": {step}, "is_hyper_param_search": false, "log_history": [{}], "max_steps": 10000, "save_steps": 500, "total_flos": 1.0e15}}"#,
            history.join(", ")
        ),
    );
    f.age(&dir, minutes_ago);
}

#[test]
fn huggingface_keeps_best_last_pointer_and_in_progress() {
    let f = Fixture::new();
    let best = "out/checkpoint-1000"; // load_best_model_at_end by accuracy: a pointer
    hf_checkpoint(&f, 500, Some(1.0), best, 60);
    hf_checkpoint(&f, 1000, Some(0.6), best, 50);
    hf_checkpoint(&f, 1500, Some(0.4), best, 40);
    hf_checkpoint(&f, 2000, Some(0.5), best, 30);
    // Trainer under DeepSpeed: the engine's tag dir and `latest` live inside checkpoint-N.
    f.write(
        "out/checkpoint-2000/global_step2000/mp_rank_00_model_states.pt",
        vec![0u8; 64],
    );
    f.write(
        "out/checkpoint-2000/global_step2000/bf16_zero_pp_rank_0_mp_rank_00_optim_states.pt",
        vec![0u8; 64],
    );
    f.write("out/checkpoint-2000/latest", "global_step2000");
    f.age("out/checkpoint-2000", 30);
    hf_checkpoint(&f, 2500, None, best, 20); // no eval at this save: unranked
    hf_checkpoint(&f, 3000, Some(0.8), best, 10);
    // In progress: weights written, trainer_state.json not yet.
    f.write("out/checkpoint-3500/model.safetensors", vec![0u8; 64]);
    f.age("out/checkpoint-3500", 5);
    // Not checkpoints: the newer Trainer's staging dir, TensorBoard logs, the final model.
    f.write("out/tmp-checkpoint-4000/model.safetensors", "x");
    f.write(
        "out/runs/Nov28_10-00-00_node1/events.out.tfevents.1.node1",
        "x",
    );
    f.write("out/model.safetensors", "x");
    f.config(
        r#"
[[watch]]
name = "hf"
runs = ["out"]
layout = "huggingface"
keep_last = 1
keep_best = 1
metric = "eval_loss"
mode = "min"
"#,
    );

    let plan = f.plan_json();
    assert_eq!(plan["runs"][0]["run"], f.path("out").to_str().unwrap());
    assert_eq!(plan["runs"][0]["watch"], "hf");
    assert_eq!(
        decisions(&plan, 0),
        [
            row("checkpoint-500", "delete", &["unkept"]),
            row("checkpoint-1000", "keep", &["pointer"]),
            row("checkpoint-1500", "keep", &["best"]),
            row("checkpoint-2000", "delete", &["unkept"]),
            row("checkpoint-2500", "delete", &["unkept"]),
            row("checkpoint-3000", "keep", &["newest-complete", "last"]),
            row("checkpoint-3500", "keep", &["incomplete"]),
        ]
    );
    let cps = &plan["runs"][0]["checkpoints"];
    assert_eq!(cps[2]["metric"], 0.4);
    assert_eq!(cps[4]["metric"], serde_json::Value::Null);
    assert_eq!(cps[6]["complete"], false);
    assert_eq!(cps[0]["step"], 500);
    let state_len = std::fs::metadata(f.path("out/checkpoint-500/trainer_state.json"))
        .unwrap()
        .len();
    assert_eq!(cps[0]["bytes"], 7 * 64 + state_len);
    assert_eq!(
        cps[0]["path"],
        f.path("out/checkpoint-500").to_str().unwrap()
    );
    assert_eq!(
        cps[4]["detail"],
        "older than the last 1; unranked: no eval_loss found"
    );

    let out = f.prune();
    assert!(
        common::stdout(&out).contains("deleted 3 checkpoints"),
        "{}",
        common::stdout(&out)
    );
    assert_eq!(
        f.listing("out"),
        [
            "checkpoint-1000",
            "checkpoint-1500",
            "checkpoint-3000",
            "checkpoint-3500",
            "model.safetensors",
            "runs",
            "tmp-checkpoint-4000"
        ]
    );
    let log = common::stderr(&out);
    assert!(log.contains("checkpoint deleted"), "{log}");
    assert!(log.contains("checkpoint=checkpoint-2000"), "{log}");
}

#[test]
fn huggingface_state_with_python_nan_parses_and_ranks_worst() {
    let f = Fixture::new();
    hf_checkpoint(&f, 500, Some(0.9), "", 30);
    f.write(
        "out/checkpoint-1000/trainer_state.json",
        r#"{"global_step": 1000, "best_model_checkpoint": null, "log_history": [{"eval_loss": NaN, "step": 1000}]}"#,
    );
    f.age("out/checkpoint-1000", 20);
    hf_checkpoint(&f, 1500, Some(1.5), "", 10);
    f.config("[[watch]]\nname = \"hf\"\nruns = [\"out\"]\nlayout = \"huggingface\"\nkeep_best = 1\nmetric = \"eval_loss\"\nmode = \"min\"\n");
    let plan = f.plan_json();
    assert_eq!(
        decisions(&plan, 0),
        [
            row("checkpoint-500", "keep", &["best"]),
            row("checkpoint-1000", "delete", &["unkept"]),
            row("checkpoint-1500", "keep", &["newest-complete"]),
        ]
    );
    assert_eq!(plan["runs"][0]["checkpoints"][1]["metric"], "NaN");
}

#[test]
fn lightning_pointer_targets_are_protected_and_counted_like_any_other() {
    // DESIGN invariant 4: `last.ckpt`'s target fills keep_last's slot and is ranked by
    // keep_best (0.1 left it out of both, and kept 300 and 400 as well).
    let f = Fixture::new();
    let names = [
        ("epoch=0-step=100-val_loss=0.90.ckpt", 60),
        ("epoch=1-step=200-val_loss=0.30.ckpt", 50),
        ("epoch=2-step=300-val_loss=0.60.ckpt", 40),
        ("epoch=3-step=400-val_loss=nan.ckpt", 30),
        ("epoch=4-step=500-val_loss=0.50.ckpt", 20),
    ];
    for (name, minutes) in names {
        f.write(&format!("ckpts/{name}"), vec![0u8; 128]);
        f.age(&format!("ckpts/{name}"), minutes);
    }
    std::os::unix::fs::symlink(
        "epoch=4-step=500-val_loss=0.50.ckpt",
        f.path("ckpts/last.ckpt"),
    )
    .unwrap();
    // A sharded (FSDP/DeepSpeed) save in progress: meta.pt comes last.
    f.write(
        "ckpts/epoch=5-step=600-val_loss=0.45.ckpt/checkpoint/__0_0.distcp",
        vec![0u8; 64],
    );
    f.age("ckpts/epoch=5-step=600-val_loss=0.45.ckpt", 10);
    f.write("ckpts/hparams.yaml", "lr: 0.1\n");
    f.write(
        "ckpts/lightning_logs/version_0/metrics.csv",
        "epoch,step,val_loss\n0,99,0.9\n",
    );
    f.config(
        "[[watch]]\nname = \"lit\"\nruns = [\"ckpts\"]\nlayout = \"lightning\"\nkeep_last = 1\nkeep_best = 2\nmetric = \"val_loss\"\nmode = \"min\"\n",
    );
    let plan = f.plan_json();
    assert_eq!(
        decisions(&plan, 0),
        [
            row("epoch=0-step=100-val_loss=0.90.ckpt", "delete", &["unkept"]),
            row("epoch=1-step=200-val_loss=0.30.ckpt", "keep", &["best"]),
            row("epoch=2-step=300-val_loss=0.60.ckpt", "delete", &["unkept"]),
            row("epoch=3-step=400-val_loss=nan.ckpt", "delete", &["unkept"]),
            row(
                "epoch=4-step=500-val_loss=0.50.ckpt",
                "keep",
                &["newest-complete", "pointer", "last", "best"]
            ),
            row(
                "epoch=5-step=600-val_loss=0.45.ckpt",
                "keep",
                &["incomplete"]
            ),
        ]
    );
    assert_eq!(plan["runs"][0]["checkpoints"][3]["metric"], "NaN");
    f.prune();
    assert_eq!(
        f.listing("ckpts"),
        [
            "epoch=1-step=200-val_loss=0.30.ckpt",
            "epoch=4-step=500-val_loss=0.50.ckpt",
            "epoch=5-step=600-val_loss=0.45.ckpt",
            "hparams.yaml",
            "last.ckpt",
            "lightning_logs",
        ]
    );
}

#[test]
fn lightning_with_csv_logger_metrics_and_the_one_step_window() {
    let f = Fixture::new();
    for (step, minutes) in [(100, 50), (200, 40), (300, 30), (400, 20)] {
        let name = format!("run/checkpoints/epoch={}-step={step}.ckpt", step / 100 - 1);
        f.write(&name, vec![0u8; 16]);
        f.age(&name, minutes);
    }
    // CSVLogger: sparse rows; validation logged at step S-1 before the save at S.
    f.write(
        "run/lightning_logs/version_0/metrics.csv",
        "epoch,step,train_loss,val_loss\n0,49,1.2,\n0,99,,0.80\n1,149,0.9,\n1,199,,0.20\n2,249,0.7,\n2,299,,0.50\n3,349,0.6,\n",
    );
    f.config(
        r#"[[watch]]
name = "lit"
runs = ["run/checkpoints"]
layout = "lightning"
keep_best = 1
metric = "val_loss"
mode = "min"
metric_source = { kind = "csv", path = "../lightning_logs/version_*/metrics.csv" }
"#,
    );
    let plan = f.plan_json();
    // step 400: no val_loss at 399/400, and no record after 400 yet: pending, and newest.
    assert_eq!(
        decisions(&plan, 0),
        [
            row("epoch=0-step=100.ckpt", "delete", &["unkept"]),
            row("epoch=1-step=200.ckpt", "keep", &["best"]),
            row("epoch=2-step=300.ckpt", "delete", &["unkept"]),
            row(
                "epoch=3-step=400.ckpt",
                "keep",
                &["newest-complete", "metric-pending"]
            ),
        ]
    );
    let cps = &plan["runs"][0]["checkpoints"];
    assert_eq!(cps[0]["metric"], 0.8);
    assert_eq!(cps[2]["metric"], 0.5);
}

#[test]
fn a_truncated_metrics_csv_means_no_metric_yet_never_worst() {
    let f = Fixture::new();
    for (step, minutes) in [(100, 50), (200, 40)] {
        let name = format!("run/ckpt/epoch=0-step={step}.ckpt");
        f.write(&name, "x");
        f.age(&name, minutes);
    }
    // Caught mid-rewrite: the last row is cut short.
    f.write("run/metrics.csv", "epoch,step,val_loss\n0,99,0.5\n0,199,0.");
    f.config(
        "[[watch]]\nname = \"lit\"\nruns = [\"run/ckpt\"]\nlayout = \"lightning\"\nkeep_best = 1\nmetric = \"val_loss\"\nmode = \"min\"\nmetric_source = { kind = \"csv\", path = \"../metrics.csv\" }\n",
    );
    let out = f.ckptd(&["plan", "--json", "--config", "ckptd.toml"]);
    common::assert_success(&out);
    let plan: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        decisions(&plan, 0),
        [
            row("epoch=0-step=100.ckpt", "keep", &["metric-pending"]),
            row(
                "epoch=0-step=200.ckpt",
                "keep",
                &["newest-complete", "metric-pending"]
            ),
        ]
    );
    let log = common::stderr(&out);
    assert!(
        log.contains("WARN")
            && log.contains("metric log unreadable")
            && log.contains("metrics.csv"),
        "{log}"
    );
}

#[test]
fn dcp_needs_its_metadata_file() {
    let f = Fixture::new();
    for (step, minutes) in [(100, 50), (200, 40), (300, 30), (400, 20), (500, 1)] {
        let dir = format!("ckpt/step-{step}");
        f.write(&format!("{dir}/__0_0.distcp"), vec![0u8; 32]);
        f.write(&format!("{dir}/__1_0.distcp"), vec![0u8; 32]);
        if step != 500 {
            f.write(&format!("{dir}/.metadata"), vec![0u8; 8]);
        }
        f.age(&dir, minutes);
    }
    f.config("[[watch]]\nname = \"dcp\"\nruns = [\"ckpt\"]\nlayout = \"dcp\"\npattern = \"step-{step}\"\nkeep_last = 2\nkeep_every_steps = 250\n");
    let plan = f.plan_json();
    // Milestones: the first of steps [0, 250) and of [250, 500).
    assert_eq!(
        decisions(&plan, 0),
        [
            row("step-100", "keep", &["every-steps"]),
            row("step-200", "delete", &["unkept"]),
            row("step-300", "keep", &["last", "every-steps"]),
            row("step-400", "keep", &["newest-complete", "last"]),
            row("step-500", "keep", &["incomplete"]),
        ]
    );
    assert_eq!(
        plan["runs"][0]["checkpoints"][4]["detail"],
        ".metadata not written yet"
    );
    f.prune();
    assert_eq!(
        f.listing("ckpt"),
        ["step-100", "step-300", "step-400", "step-500"]
    );
}

#[test]
fn generic_with_a_jsonl_log_and_untouchable_neighbours() {
    let f = Fixture::new();
    for (step, minutes) in [(100, 50), (200, 40), (300, 30), (400, 20), (500, 10)] {
        let name = format!("exp/ckpt/model_step{step}.pt");
        f.write(&name, vec![0u8; 10]);
        f.age(&name, minutes);
    }
    f.write(
        "exp/metrics.jsonl",
        "{\"step\": 100, \"val/loss\": 0.5}\n{\"step\": 200, \"val/loss\": 0.2}\n{\"step\": 350, \"train/loss\": 0.9}\n",
    );
    for other in [
        "notes.txt",
        "model_stepX.pt",
        "model_step600.pt.tmp",
        "optimizer_step100.pt",
    ] {
        f.write(&format!("exp/ckpt/{other}"), "x");
        f.age(&format!("exp/ckpt/{other}"), 100);
    }
    f.config(
        r#"[[watch]]
name = "custom"
runs = ["exp/ckpt"]
layout = "generic"
pattern = "model_step{step}.pt"
keep_best = 1
metric = "val/loss"
mode = "min"
metric_source = { kind = "jsonl", path = "../metrics.jsonl" }
"#,
    );
    let plan = f.plan_json();
    assert_eq!(
        decisions(&plan, 0),
        [
            row("model_step100.pt", "delete", &["unkept"]),
            row("model_step200.pt", "keep", &["best"]),
            // A later record (350) exists and holds no val/loss for 300: unranked.
            row("model_step300.pt", "delete", &["unkept"]),
            // Nothing after 400 yet: the metric may still come.
            row("model_step400.pt", "keep", &["metric-pending"]),
            row(
                "model_step500.pt",
                "keep",
                &["newest-complete", "metric-pending"]
            ),
        ]
    );
    f.prune();
    assert_eq!(
        f.listing("exp/ckpt"),
        [
            "model_step200.pt",
            "model_step400.pt",
            "model_step500.pt",
            "model_step600.pt.tmp",
            "model_stepX.pt",
            "notes.txt",
            "optimizer_step100.pt",
        ]
    );
}

#[test]
fn a_crashed_save_with_an_empty_state_is_incomplete_without_a_warn() {
    // Issue 9: HF's crashed save leaves an empty trainer_state.json; 0.1 WARNed "metric file
    // unreadable" for it on every pass (720 lines per crashed save at the defaults).
    let f = Fixture::new();
    hf_checkpoint(&f, 500, Some(0.9), "out/checkpoint-500", 30);
    hf_checkpoint(&f, 1000, Some(0.8), "out/checkpoint-1000", 20);
    f.write("out/checkpoint-1500/model.safetensors", vec![0u8; 64]);
    f.write("out/checkpoint-1500/trainer_state.json", "");
    f.age("out/checkpoint-1500", 10);
    f.config(
        "[[watch]]\nname = \"hf\"\nruns = [\"out\"]\nlayout = \"huggingface\"\nkeep_last = 1\nkeep_best = 1\nmetric = \"eval_loss\"\nmode = \"min\"\n",
    );
    let out = f.ckptd(&["plan", "--config", "ckptd.toml", "--json"]);
    let plan: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        decisions(&plan, 0)[2],
        row("checkpoint-1500", "keep", &["incomplete"])
    );
    let err = common::stderr(&out);
    assert!(!err.contains("metric file unreadable"), "{err}");
}

#[test]
fn a_typo_in_metric_holds_the_run_instead_of_deleting_the_best() {
    // Issue 9 / DESIGN invariant 9: `metric = "eval_los"` on an HF run. 0.1 WARNed and deleted
    // every checkpoint but the newest, the best among them.
    let f = Fixture::new();
    for (step, loss, minutes) in [
        (500, 0.9, 40),
        (1000, 0.5, 30),
        (1500, 0.7, 20),
        (2000, 0.8, 10),
    ] {
        hf_checkpoint(&f, step, Some(loss), "out/checkpoint-1000", minutes);
    }
    f.config(
        "[[watch]]\nname = \"hf\"\nruns = [\"out\"]\nlayout = \"huggingface\"\nkeep_last = 1\nkeep_best = 1\nmetric = \"eval_los\"\nmode = \"min\"\n",
    );
    let before = f.listing("out");
    let plan = f.ckptd(&["plan", "--config", "ckptd.toml", "--json"]);
    assert_eq!(plan.status.code(), Some(1), "{}", common::stderr(&plan));
    let json: serde_json::Value = serde_json::from_slice(&plan.stdout).unwrap();
    for row in decisions(&json, 0) {
        assert_eq!(row.1, "keep", "{row:?}");
        assert!(row.2.contains(&"held".to_owned()), "{row:?}");
    }
    let err = common::stderr(&plan);
    assert_eq!(err.matches("keep_best holds run").count(), 1, "{err}");
    assert!(err.contains("`eval_los`"), "{err}");
    // The keys the source did give, and the one meant (issue 9, "Done when").
    assert!(err.contains("did you mean `eval_loss`?"), "{err}");
    assert!(
        err.contains("epoch, eval_loss, eval_runtime, eval_samples_per_second, grad_norm, learning_rate, loss"),
        "{err}"
    );
    let prune = f.ckptd(&["prune", "--config", "ckptd.toml", "--yes"]);
    assert_eq!(prune.status.code(), Some(1), "{}", common::stderr(&prune));
    assert!(
        common::stdout(&prune)
            .contains("0 failed; 1 run held (keep_best found no metric: see the ERROR)"),
        "{}",
        common::stdout(&prune)
    );
    assert_eq!(f.listing("out"), before);
    let status = f.ckptd(&["status", "--config", "ckptd.toml"]);
    assert_eq!(status.status.code(), Some(1));
    assert!(
        common::stdout(&status)
            .contains("held: keep_best finds `eval_los` in no complete checkpoint"),
        "{}",
        common::stdout(&status)
    );
}

#[test]
fn every_checkpoint_carries_its_metrics_by_name() {
    // Issue 9 item 4: `plan --json` names the policy's metric and carries every number the
    // source has at the checkpoint's step; 0.1 gave a bare `metric` and nothing else.
    let f = Fixture::new();
    hf_checkpoint(&f, 500, Some(0.9), "out/checkpoint-500", 20);
    hf_checkpoint(&f, 1000, None, "out/checkpoint-500", 10);
    f.config(
        "[[watch]]\nname = \"hf\"\nruns = [\"out\"]\nlayout = \"huggingface\"\nkeep_best = 1\nmetric = \"eval_loss\"\nmode = \"min\"\n",
    );
    let plan = f.plan_json();
    let cps = &plan["runs"][0]["checkpoints"];
    assert_eq!(cps[0]["metric_name"], "eval_loss");
    assert_eq!(cps[0]["metric"], 0.9);
    // The train entry and the eval entry of step 500, `step` itself aside.
    assert_eq!(
        cps[0]["metrics"],
        serde_json::json!({"epoch": 0.5, "eval_loss": 0.9, "eval_runtime": 3.2,
            "eval_samples_per_second": 100.0, "grad_norm": 1.5, "learning_rate": 5e-05,
            "loss": 2.1})
    );
    // No eval at 1000: the train entry only, and no policy value.
    assert_eq!(cps[1]["metric"], serde_json::Value::Null);
    assert_eq!(
        cps[1]["metrics"],
        serde_json::json!({"epoch": 0.5, "grad_norm": 1.5, "learning_rate": 5e-05, "loss": 2.1})
    );
    // Without keep_best there is no policy metric, but the metrics are still read.
    f.config(
        "[[watch]]\nname = \"hf\"\nruns = [\"out\"]\nlayout = \"huggingface\"\nkeep_last = 5\n",
    );
    let plan = f.plan_json();
    let cps = &plan["runs"][0]["checkpoints"];
    assert_eq!(cps[0]["metric_name"], serde_json::Value::Null);
    assert_eq!(cps[0]["metrics"]["eval_loss"], 0.9);
}

#[test]
fn run_level_logs_give_the_row_of_the_checkpoints_step() {
    let f = Fixture::new();
    for (step, minutes) in [(100, 50), (200, 40)] {
        let name = format!("run/checkpoints/epoch={}-step={step}.ckpt", step / 100 - 1);
        f.write(&name, vec![0u8; 16]);
        f.age(&name, minutes);
    }
    // Validation at S - 1 and the train loss at S: both within metric_window = 1.
    f.write(
        "run/lightning_logs/version_0/metrics.csv",
        "epoch,step,train_loss,val_loss,val_acc\n0,99,,0.80,0.5\n0,100,1.1,,\n1,199,,0.20,0.7\n1,250,0.7,,\n",
    );
    f.config(
        r#"[[watch]]
name = "lit"
runs = ["run/checkpoints"]
layout = "lightning"
keep_best = 1
metric = "val_loss"
mode = "min"
metric_source = { kind = "csv", path = "../lightning_logs/version_*/metrics.csv" }
"#,
    );
    let plan = f.plan_json();
    let cps = &plan["runs"][0]["checkpoints"];
    assert_eq!(
        cps[0]["metrics"],
        serde_json::json!({"epoch": 0.0, "train_loss": 1.1, "val_acc": 0.5, "val_loss": 0.8})
    );
    assert_eq!(
        cps[1]["metrics"],
        serde_json::json!({"epoch": 1.0, "val_acc": 0.7, "val_loss": 0.2})
    );
}
