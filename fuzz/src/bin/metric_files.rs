//! Fuzzes the metric file readers of `metrics`: the `checkpoint_json` reader (the streaming
//! `json_stream::read_file` that `checkpoint_json::observe` calls, with its JSON5 fallback),
//! the CSV log reader and the JSON-lines log reader.
//!
//! Input: byte 0 picks the reader (modulo 3: checkpoint_json, csv, jsonl), byte 1 the question
//! (the metric, the step or step key, the steps of interest); the rest is the file.
//!
//! Asserts: no panic; for `checkpoint_json`, the streaming reader gives the full parser's
//! answer (`Found::from_document`) whenever both read the document, and reads every document
//! strict `serde_json` reads; for the logs, every record's step is at most `max_step`, a row
//! holds at most 64 metrics, and a bad line number is a line of the file.

use ckptd::fuzzing::{csv_log, jsonl_log, memory_file};
use ckptd::metrics::json::{self, Json};
use ckptd::metrics::json_stream::{self, Found, Outcome, Wanted};
use ckptd::metrics::run_log::{Interest, RunLog};

/// Inputs past this are ignored; `max_metric_bytes` (32 MiB by default) bounds real files.
const MAX_INPUT: usize = 256 << 10;
const METRICS: [Option<&str>; 8] = [
    None,
    Some("eval_loss"),
    Some("loss"),
    Some("val/loss"),
    Some("step"),
    Some("global_step"),
    Some("log_history"),
    Some(""),
];
const STEPS: [Option<u64>; 8] = [
    None,
    Some(0),
    Some(1),
    Some(10),
    Some(100),
    Some(500),
    Some(1000),
    Some(u64::MAX),
];
const STEP_KEYS: [&str; 4] = ["step", "global_step", "epoch", ""];

fn main() {
    afl::fuzz!(|data: &[u8]| one(data));
}

fn one(data: &[u8]) {
    if data.len() < 2 || data.len() > MAX_INPUT {
        return;
    }
    let (reader, question, file) = (data[0] % 3, data[1], &data[2..]);
    let metric = METRICS[usize::from(question & 7)];
    let interest = match question >> 6 {
        0 => Interest::default(),
        1 => Interest::new(Vec::new(), 0),
        2 => Interest::new(vec![10, 100, 500], 50),
        _ => Interest::new(vec![10, 100, 500], 50).behind(),
    };
    match reader {
        0 => checkpoint_json(
            file,
            metric,
            STEPS[usize::from((question >> 3) & 7)],
            question >> 6,
        ),
        1 => {
            let key = STEP_KEYS[usize::from((question >> 3) & 3)];
            if let Ok(log) = csv_log(file, key, metric, &interest) {
                check_log(&log);
            }
        }
        _ => {
            let key = STEP_KEYS[usize::from((question >> 3) & 3)];
            if let Ok((log, bad)) = jsonl_log(file, key, metric, &interest) {
                check_log(&log);
                let lines = file.iter().filter(|&&b| b == b'\n').count();
                assert!(
                    bad.iter().all(|&n| n >= 1 && n <= lines),
                    "bad lines {bad:?} of {lines}"
                );
            }
        }
    }
}

fn checkpoint_json(file: &[u8], metric: Option<&str>, step: Option<u64>, how: u8) {
    let wanted = Wanted {
        step,
        metric,
        all: how & 1 == 1,
    };
    // Without the fallback (`how` bit 1) a document only JSON5 reads is `Unparsable`.
    let fallback = if how & 2 == 2 { 0 } else { 1 << 20 };
    let memfd = memory_file(file).expect("memfd");
    let outcome = json_stream::read_file(&memfd, &wanted, Some(1 << 20), fallback)
        .expect("a file in memory is always readable");
    let Ok(text) = std::str::from_utf8(file) else {
        return;
    };
    let strict = serde_json::from_str::<Json>(text).ok();
    let full = strict
        .clone()
        .or_else(|| json::parse::<Json>(text).ok().filter(|_| fallback > 0))
        .map(|doc| Found::from_document(&doc, &wanted));
    match (&outcome, &full) {
        (Outcome::Found(streamed), Some(full)) => {
            assert!(same(streamed, full), "streamed {streamed:?}\nfull {full:?}");
        }
        (_, Some(_)) if strict.is_some() => {
            panic!("strict serde_json reads the document, the reader gave {outcome:?}")
        }
        _ => {}
    }
}

/// Equal, NaN included; other numbers within one ulp (serde_json's and JSON5's float parsing
/// may differ in the last bit), as the reader's own tests compare them.
fn same(a: &Found, b: &Found) -> bool {
    let close = |x: Option<f64>, y: Option<f64>| match (x, y) {
        (Some(x), Some(y)) if x.is_nan() || y.is_nan() => x.is_nan() && y.is_nan(),
        (Some(x), Some(y)) => x.to_bits().abs_diff(y.to_bits()) <= 1,
        (x, y) => x == y,
    };
    let same_metrics = a.metrics.names().eq(b.metrics.names())
        && a.metrics
            .iter()
            .all(|(name, x)| close(Some(x), b.metrics.get(name)));
    close(a.metric, b.metric)
        && same_metrics
        && a.global_step == b.global_step
        && a.best_model_checkpoint == b.best_model_checkpoint
}

fn check_log(log: &RunLog) {
    for (step, _) in &log.records {
        assert!(
            Some(*step) <= log.max_step,
            "record at {step} past max_step {:?}",
            log.max_step
        );
    }
    for (step, row) in &log.rows {
        assert!(
            Some(*step) <= log.max_step,
            "row at {step} past max_step {:?}",
            log.max_step
        );
        assert!(
            row.len() <= 64,
            "{} metrics in the row at {step}",
            row.len()
        );
    }
}
