//! Regression tests for issue 8, item 4: metric files that froze or exhausted 0.1. A 40 MiB
//! `trainer_state.json` (over `max_metric_bytes`) is neither read nor taken for "no metric":
//! its checkpoint is kept, with one WARN, and `plan` stays small (0.1 parsed it into a tree of
//! hundreds of MiB); a metric file linked out of the run is not read; a TensorBoard record
//! with a crafted 40 MiB length is skipped and the record after it is read.

mod common;

use std::fmt::Write as _;
use std::process::{Command, Output, Stdio};

use common::daemon::{wait_until, Daemon};
use common::{decisions, row, stderr, Fixture};

/// Python's `json.dump` of a Trainer state for `step` whose eval at `step` gives `eval_loss`,
/// padded with train log entries (a NaN grad_norm among them) to at least `size` bytes.
fn trainer_state(step: u64, eval_loss: f64, size: usize) -> String {
    let mut text = format!(
        "{{\"best_model_checkpoint\": null, \"epoch\": 1.0, \"global_step\": {step}, \"log_history\": ["
    );
    let mut i = 0u64;
    while text.len() < size {
        let grad = if i % 1000 == 7 {
            "NaN".to_owned()
        } else {
            format!("{}.25", i % 9)
        };
        let _ = write!(
            text,
            "{{\"epoch\": 0.5, \"grad_norm\": {grad}, \"learning_rate\": 4.9e-05, \"loss\": 2.125, \"step\": {}}}, ",
            i % step
        );
        i += 1;
    }
    let _ = write!(
        text,
        "{{\"epoch\": 1.0, \"eval_loss\": {eval_loss}, \"eval_runtime\": 3.25, \"step\": {step}}}], \"max_steps\": 100000}}"
    );
    text
}

fn hf_checkpoint(f: &Fixture, step: u64, eval_loss: f64, size: usize, minutes_ago: u64) {
    let dir = format!("out/checkpoint-{step}");
    f.write(&format!("{dir}/model.safetensors"), vec![0u8; 64]);
    f.write(
        &format!("{dir}/trainer_state.json"),
        trainer_state(step, eval_loss, size),
    );
    f.age(&dir, minutes_ago);
}

const HF_CONFIG: &str = "[daemon]\nstate_dir = \"state\"\n\n[[watch]]\nname = \"hf\"\nruns = [\"out\"]\nlayout = \"huggingface\"\nkeep_last = 1\nkeep_best = 1\nmetric = \"eval_loss\"\nmode = \"min\"\nsettle = \"1s\"\n";

/// `ckptd ARGS` with its data segment limited to 256 MiB (`ulimit -d`): 0.1 needed more to
/// parse a 40 MiB `trainer_state.json`.
fn ckptd_in_256_mib(f: &Fixture, args: &[&str]) -> Output {
    Command::new("sh")
        .arg("-c")
        .arg("ulimit -d 262144 && exec \"$0\" \"$@\"")
        .arg(env!("CARGO_BIN_EXE_ckptd"))
        .args(args)
        .current_dir(f.dir.path())
        .env_remove("CKPTD_LOG")
        .stdin(Stdio::null())
        .output()
        .unwrap()
}

fn plan_in_256_mib(f: &Fixture) -> (serde_json::Value, String) {
    let out = ckptd_in_256_mib(f, &["plan", "--json", "--config", "ckptd.toml"]);
    common::assert_success(&out);
    (serde_json::from_slice(&out.stdout).unwrap(), stderr(&out))
}

fn warnings_about(log: &str, needle: &str) -> usize {
    log.lines()
        .filter(|l| l.contains("WARN") && l.contains(needle))
        .count()
}

#[test]
fn a_40_mib_trainer_state_keeps_its_checkpoint_with_one_warn_and_is_never_held() {
    let f = Fixture::new();
    hf_checkpoint(&f, 500, 0.9, 0, 30);
    hf_checkpoint(&f, 1000, 0.5, 0, 20);
    // The true best, in a state of 40 MiB: over the default 32 MiB. Its marker and the
    // best_model_checkpoint pointer are still read (streamed), within 256 MiB of data.
    hf_checkpoint(&f, 1500, 0.1, 40 << 20, 10);
    f.config(HF_CONFIG);
    let big = f.path("out/checkpoint-1500/trainer_state.json");
    let big_len = std::fs::metadata(&big).unwrap().len();

    let (plan, log) = plan_in_256_mib(&f);
    assert_eq!(
        decisions(&plan, 0),
        [
            row("checkpoint-500", "delete", &["unkept"]),
            row("checkpoint-1000", "keep", &["best"]),
            row(
                "checkpoint-1500",
                "keep",
                &["newest-complete", "metric-too-large", "last"]
            ),
        ]
    );
    let newest = &plan["runs"][0]["checkpoints"][2];
    assert_eq!(newest["complete"], true);
    assert_eq!(newest["metric"], serde_json::Value::Null);
    assert_eq!(
        newest["detail"],
        format!(
            "metric unknown: {} is 40.0 MiB ({big_len} bytes), over max_metric_bytes 32.0 MiB",
            big.display()
        )
    );
    assert_eq!(warnings_about(&log, "max_metric_bytes"), 1, "{log}");
    assert!(
        log.contains(&big.display().to_string()) && log.contains(&format!("bytes={big_len}")),
        "{log}"
    );
}

#[test]
fn a_state_over_the_cap_stays_kept_after_newer_saves_until_the_run_raises_the_cap() {
    let f = Fixture::new();
    hf_checkpoint(&f, 500, 0.9, 0, 30);
    hf_checkpoint(&f, 1000, 0.5, 0, 20);
    hf_checkpoint(&f, 1500, 0.1, 100 << 10, 15);
    // A newer save, whose state only grew: the unknown one is out of keep_last now.
    hf_checkpoint(&f, 2000, 0.2, 101 << 10, 10);
    f.config(&HF_CONFIG.replace(
        "settle",
        "max_metric_bytes = \"64KiB\"\nrun_overrides = true\nsettle",
    ));
    let (plan, _) = plan_in_256_mib(&f);
    assert_eq!(
        decisions(&plan, 0),
        [
            row("checkpoint-500", "delete", &["unkept"]),
            row("checkpoint-1000", "keep", &["best"]),
            row("checkpoint-1500", "keep", &["metric-too-large"]),
            row(
                "checkpoint-2000",
                "keep",
                &["newest-complete", "metric-too-large", "last"]
            ),
        ]
    );
    let out = f.prune();
    assert_eq!(warnings_about(&stderr(&out), "max_metric_bytes"), 2);
    assert_eq!(
        f.listing("out"),
        ["checkpoint-1000", "checkpoint-1500", "checkpoint-2000"]
    );

    // The run raises the cap: the states are read and ranked, and the true best kept.
    f.write("out/.ckptd.toml", "max_metric_bytes = \"1MiB\"\n");
    let (plan, log) = plan_in_256_mib(&f);
    assert_eq!(
        decisions(&plan, 0),
        [
            row("checkpoint-1000", "delete", &["unkept"]),
            row("checkpoint-1500", "keep", &["best"]),
            row("checkpoint-2000", "keep", &["newest-complete", "last"]),
        ]
    );
    assert_eq!(plan["runs"][0]["checkpoints"][1]["metric"], 0.1);
    assert_eq!(warnings_about(&log, "max_metric_bytes"), 0, "{log}");
}

#[test]
fn the_daemon_warns_once_about_a_state_over_the_cap_not_on_every_pass() {
    let f = Fixture::new();
    hf_checkpoint(&f, 500, 0.9, 0, 30);
    hf_checkpoint(&f, 1000, 0.1, 100 << 10, 20);
    hf_checkpoint(&f, 1500, 0.5, 0, 10);
    f.config(&HF_CONFIG.replace("settle", "max_metric_bytes = \"64KiB\"\nsettle"));
    let d = Daemon::start(&f, &[]);
    wait_until(
        "checkpoint-500 to be deleted",
        || !f.path("out/checkpoint-500").exists(),
        || d.log(),
    );
    // Two more passes, each woken by a new file in the run (stamped on the storage clock).
    for n in 0..2 {
        let note = f.write(&format!("out/notes-{n}.txt"), "x");
        let written = std::fs::metadata(&note).unwrap().modified().unwrap();
        wait_until(
            "a pass after the note",
            || {
                std::fs::metadata(f.path("out/.ckptd.lock"))
                    .and_then(|m| m.modified())
                    .is_ok_and(|t| t > written)
            },
            || d.log(),
        );
    }
    let log = d.log();
    assert_eq!(d.stop().code(), Some(0));
    assert_eq!(warnings_about(&log, "max_metric_bytes"), 1, "{log}");
    assert!(f.path("out/checkpoint-1000").exists(), "{log}");
}

#[test]
fn a_metric_file_linked_out_of_the_run_is_not_read() {
    let f = Fixture::new();
    hf_checkpoint(&f, 500, 0.9, 0, 30);
    hf_checkpoint(&f, 1000, 0.5, 0, 20);
    hf_checkpoint(&f, 2000, 0.7, 0, 5);
    // checkpoint-1500's state is a link to someone else's file, claiming the best loss.
    f.write("elsewhere/state.json", trainer_state(1500, 0.01, 0));
    f.write("out/checkpoint-1500/model.safetensors", vec![0u8; 64]);
    std::os::unix::fs::symlink(
        f.path("elsewhere/state.json"),
        f.path("out/checkpoint-1500/trainer_state.json"),
    )
    .unwrap();
    f.age("out/checkpoint-1500", 10);
    f.config(HF_CONFIG);
    let out = f.ckptd(&["plan", "--json", "--config", "ckptd.toml"]);
    common::assert_success(&out);
    let plan: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    // No metric: unranked (never "best", never "worst"), so keep_best keeps checkpoint-1000.
    assert_eq!(
        decisions(&plan, 0),
        [
            row("checkpoint-500", "delete", &["unkept"]),
            row("checkpoint-1000", "keep", &["best"]),
            row("checkpoint-1500", "delete", &["unkept"]),
            row("checkpoint-2000", "keep", &["newest-complete", "last"]),
        ]
    );
    let log = stderr(&out);
    let link = f.path("out/checkpoint-1500/trainer_state.json");
    let target = std::fs::canonicalize(f.path("elsewhere/state.json")).unwrap();
    assert!(
        log.lines().any(|l| l.contains("WARN")
            && l.contains("symlink out of the run")
            && l.contains(&link.display().to_string())
            && l.contains(&target.display().to_string())),
        "{log}"
    );
}

#[test]
fn a_run_level_log_linked_out_of_the_run_is_not_read_and_one_inside_is() {
    let f = Fixture::new();
    for (step, minutes) in [(100, 30), (200, 20), (300, 10)] {
        let name = format!("run/model_step{step}.pt");
        f.write(&name, "x");
        f.age(&name, minutes);
    }
    f.write(
        "secret/metrics.jsonl",
        "{\"step\": 100, \"val\": 0.1}\n{\"step\": 200, \"val\": 0.9}\n{\"step\": 300, \"val\": 0.5}\n",
    );
    std::os::unix::fs::symlink(f.path("secret"), f.path("run/logs")).unwrap();
    f.config("[[watch]]\nname = \"g\"\nruns = [\"run\"]\nlayout = \"generic\"\npattern = \"model_step{step}.pt\"\nkeep_best = 1\nmetric = \"val\"\nmode = \"min\"\nmetric_timeout = \"1m\"\nmetric_source = { kind = \"jsonl\", path = \"logs/*.jsonl\" }\n");
    let out = f.ckptd(&["plan", "--json", "--config", "ckptd.toml"]);
    // No metric read anywhere: the run is held (DESIGN invariant 9), and `plan` exits 1.
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("keep_best holds run"),
        "{}",
        stderr(&out)
    );
    let plan: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let metrics: Vec<&serde_json::Value> = (0..3)
        .map(|i| &plan["runs"][0]["checkpoints"][i]["metric"])
        .collect();
    assert!(metrics.iter().all(|m| m.is_null()), "{plan}");
    assert!(
        stderr(&out).contains("symlink out of the run"),
        "{}",
        stderr(&out)
    );

    // The same log moved inside the run, behind a link that stays inside: read.
    std::fs::remove_file(f.path("run/logs")).unwrap();
    std::fs::rename(f.path("secret"), f.path("run/real-logs")).unwrap();
    std::os::unix::fs::symlink("real-logs", f.path("run/logs")).unwrap();
    let plan = f.plan_json();
    assert_eq!(plan["runs"][0]["checkpoints"][0]["metric"], 0.1);
    assert_eq!(
        decisions(&plan, 0)[0],
        row("model_step100.pt", "keep", &["best"])
    );
}

#[test]
fn a_csv_log_over_the_cap_keeps_every_checkpoint_it_would_rank() {
    let f = Fixture::new();
    for (step, minutes) in [(100, 30), (200, 20), (300, 10)] {
        let name = format!("run/model_step{step}.pt");
        f.write(&name, "x");
        f.age(&name, minutes);
    }
    let mut csv = "step,val\n100,0.5\n200,0.1\n300,0.9\n".to_owned();
    while csv.len() <= 2048 {
        csv.push_str("301,\n");
    }
    f.write("run/metrics.csv", &csv);
    f.config("[[watch]]\nname = \"g\"\nruns = [\"run\"]\nlayout = \"generic\"\npattern = \"model_step{step}.pt\"\nkeep_best = 1\nmetric = \"val\"\nmode = \"min\"\nmax_metric_bytes = \"2KiB\"\nmetric_source = { kind = \"csv\", path = \"metrics.csv\" }\n");
    let out = f.ckptd(&["prune", "--config", "ckptd.toml"]);
    common::assert_success(&out);
    // Nothing ranked, nothing deleted: any row of the file could be the one each takes.
    assert_eq!(
        f.listing("run"),
        [
            "metrics.csv",
            "model_step100.pt",
            "model_step200.pt",
            "model_step300.pt"
        ]
    );
    assert_eq!(warnings_about(&stderr(&out), "max_metric_bytes"), 1);
    let plan = f.plan_json();
    assert_eq!(
        decisions(&plan, 0)[0],
        row("model_step100.pt", "keep", &["metric-too-large"])
    );
}

#[test]
fn a_tensorboard_record_with_a_crafted_length_is_skipped_and_the_next_one_read() {
    use std::io::{Seek, SeekFrom, Write};
    let f = Fixture::new();
    for (step, minutes) in [(100, 30), (200, 20)] {
        let name = format!("exp/ckpt/model_step{step}.pt");
        f.write(&name, "x");
        f.age(&name, minutes);
    }
    // A real step-100 record (val/loss 0.9), then a length header claiming 40 MiB with a
    // valid checksum over 40 MiB of zeros (sparse), then a real step-200 record (0.7).
    let events = std::fs::read(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures/tensorboard/simple/events.out.tfevents.1700000000.node1.4242.0"),
    )
    .unwrap();
    let records = split_records(&events);
    let step_of = |r: &[u8]| ckptd_step(r);
    let at_100 = records.iter().find(|r| step_of(r) == Some(100)).unwrap();
    let at_200 = records.iter().find(|r| step_of(r) == Some(200)).unwrap();
    let path = f.path("exp/tb/events.out.tfevents.1700000000.node1.4242.0");
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    let mut file = std::fs::File::create(&path).unwrap();
    file.write_all(&events[..records_start(&events)]).unwrap();
    file.write_all(at_100).unwrap();
    let len: u64 = 40 << 20;
    file.write_all(&len.to_le_bytes()).unwrap();
    file.write_all(
        &ckptd::metrics::tensorboard::records::masked_crc(&len.to_le_bytes()).to_le_bytes(),
    )
    .unwrap();
    let end = file.stream_position().unwrap() + len + 4;
    file.set_len(end).unwrap();
    file.seek(SeekFrom::Start(end)).unwrap();
    file.write_all(at_200).unwrap();
    drop(file);
    f.config("[[watch]]\nname = \"tb\"\nruns = [\"exp/ckpt\"]\nlayout = \"generic\"\npattern = \"model_step{step}.pt\"\nkeep_best = 1\nmetric = \"val/loss\"\nmode = \"min\"\nmetric_source = { kind = \"tensorboard\", path = \"../tb\" }\n");
    let out = ckptd_in_256_mib(&f, &["plan", "--json", "--config", "ckptd.toml"]);
    common::assert_success(&out);
    let plan: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let value = |i: usize| {
        plan["runs"][0]["checkpoints"][i]["metric"]
            .as_f64()
            .unwrap()
    };
    assert!((value(0) - 0.9).abs() < 1e-6, "{plan}");
    assert!((value(1) - 0.7).abs() < 1e-6, "{plan}");
    let log = stderr(&out);
    assert_eq!(warnings_about(&log, "max_metric_bytes"), 1, "{log}");
    assert!(!log.contains("event file corrupt"), "{log}");
}

/// The framed records of an event file (the first one is the file-version event).
fn split_records(bytes: &[u8]) -> Vec<&[u8]> {
    let mut out = Vec::new();
    let mut at = 0;
    while at + 12 <= bytes.len() {
        let len =
            usize::try_from(u64::from_le_bytes(bytes[at..at + 8].try_into().unwrap())).unwrap();
        out.push(&bytes[at..at + 12 + len + 4]);
        at += 12 + len + 4;
    }
    out
}

/// Where the records after the file-version event start.
fn records_start(bytes: &[u8]) -> usize {
    split_records(bytes)[0].len()
}

/// The step of the `val/loss` event in a framed record, if it is one.
fn ckptd_step(record: &[u8]) -> Option<i64> {
    use prost::Message;
    let event =
        ckptd::metrics::tensorboard::proto::Event::decode(&record[12..record.len() - 4]).ok()?;
    let summary = event.summary?;
    summary
        .value
        .iter()
        .any(|v| v.tag == "val/loss")
        .then_some(event.step)
}
