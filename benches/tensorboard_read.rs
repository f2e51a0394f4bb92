//! TensorBoard reading throughput against `cat` of the same file, in the same run.
//!
//! Writes two event files of about 256 MB each in a temporary directory with the crate's own
//! framing and messages: "scalars" (24 scalar tags per step, the worst case: many small
//! records), "mixed" (scalars plus per-layer histograms every 10 steps) and "large" (a 64 KiB
//! tensor, as image or embedding summaries are, with every step's scalars). `cat FILE >
//! /dev/null` and `ckptd::metrics::tensorboard::read_file(FILE, "val/loss")` are each timed
//! three times, best time kept: "warm" with the file in the page cache (cat is then a memory
//! copy), "cold" after evicting just this file's pages with `posix_fadvise(DONTNEED)` (both read
//! from disk, as a daemon's first read of an old run does). Also times the cached path: the
//! first `load` of a file, then a re-read of the unchanged file (only a stat).
//!
//!   cargo bench --bench tensorboard_read

// Synthetic values and figures for display: precision does not matter.
#![allow(clippy::cast_precision_loss)]

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use ckptd::metrics::tensorboard::proto::{
    Dim, Event, PluginData, Summary, SummaryMetadata, SummaryValue, TensorProto, TensorShapeProto,
    DT_DOUBLE,
};
use ckptd::metrics::tensorboard::{self, records};
use prost::Message;

const TARGET_BYTES: u64 = 256 << 20;
const TRAIN_TAGS: usize = 24;

fn scalar(tag: &str, value: f32) -> SummaryValue {
    SummaryValue {
        tag: tag.to_owned(),
        simple_value: Some(value),
        tensor: None,
        metadata: None,
    }
}

fn histogram(tag: &str, buckets: usize) -> SummaryValue {
    SummaryValue {
        tag: tag.to_owned(),
        simple_value: None,
        tensor: Some(TensorProto {
            dtype: DT_DOUBLE,
            tensor_shape: Some(TensorShapeProto {
                dim: vec![Dim { size: 30 }, Dim { size: 3 }],
                unknown_rank: false,
            }),
            tensor_content: vec![0x3f; buckets * 8],
            float_val: Vec::new(),
            double_val: Vec::new(),
        }),
        metadata: Some(SummaryMetadata {
            plugin_data: Some(PluginData {
                plugin_name: "histograms".to_owned(),
            }),
        }),
    }
}

/// Writes events until the file holds `TARGET_BYTES`; returns how many val/loss records.
fn write_events(path: &Path, profile: &str) -> u64 {
    let tags: Vec<String> = (0..TRAIN_TAGS)
        .map(|i| format!("train/metric_{i:02}"))
        .collect();
    let mut out = BufWriter::with_capacity(1 << 20, File::create(path).unwrap());
    let (mut written, mut val_records, mut frame) = (0u64, 0u64, Vec::new());
    let mut step = 0i64;
    while written < TARGET_BYTES {
        step += 1;
        let wall_time = 1.7e9 + step as f64;
        let mut values: Vec<SummaryValue> = Vec::new();
        for tag in &tags {
            values.push(scalar(tag, (step as f32).sqrt()));
        }
        if step % 100 == 0 {
            values.push(scalar("val/loss", 1.0 / (1.0 + (step as f32))));
            val_records += 1;
        }
        if profile == "mixed" && step % 10 == 0 {
            for layer in 0..8 {
                values.push(histogram(&format!("weights/layer_{layer}"), 90));
            }
        }
        if profile == "large" {
            values.push(histogram("embeddings/projection", 8192));
        }
        // One event per value, as SummaryWriter.add_scalar writes them.
        for value in values {
            let event = Event {
                wall_time,
                step,
                summary: Some(Summary { value: vec![value] }),
            };
            frame.clear();
            records::encode(&event.encode_to_vec(), &mut frame);
            out.write_all(&frame).unwrap();
            written += frame.len() as u64;
        }
    }
    out.flush().unwrap();
    val_records
}

fn best_of_3(mut run: impl FnMut() -> Duration) -> Duration {
    (0..3).map(|_| run()).min().unwrap()
}

fn warm(mut run: impl FnMut()) -> Duration {
    best_of_3(|| {
        let start = Instant::now();
        run();
        start.elapsed()
    })
}

/// Drops this file's pages from the page cache (nothing else's), so the next read hits the disk.
fn evict(path: &Path) {
    let file = File::open(path).unwrap();
    file.sync_all().unwrap();
    rustix::fs::fadvise(&file, 0, None, rustix::fs::Advice::DontNeed).unwrap();
}

fn cold(path: &Path, mut run: impl FnMut()) -> Duration {
    best_of_3(|| {
        evict(path);
        let start = Instant::now();
        run();
        start.elapsed()
    })
}

fn cat(path: &Path) {
    let status = Command::new("cat")
        .arg(path)
        .stdout(Stdio::from(File::create("/dev/null").unwrap()))
        .status()
        .unwrap();
    assert!(status.success());
}

fn mb_per_s(bytes: u64, time: Duration) -> f64 {
    bytes as f64 / 1e6 / time.as_secs_f64()
}

fn bench(dir: &Path, name: &str) {
    let path = dir.join(format!("events.out.tfevents.1700000000.bench.{name}"));
    let val_records = write_events(&path, name);
    let bytes = std::fs::metadata(&path).unwrap().len();
    let read = || {
        let state = tensorboard::read_file(&path, "val/loss").unwrap();
        assert_eq!(state.scalars.len() as u64, val_records);
    };
    let (cat_cold, read_cold) = (cold(&path, || cat(&path)), cold(&path, read));
    cat(&path); // warm the page cache for both readers
    let (cat_warm, read_warm) = (warm(|| cat(&path)), warm(read));
    // Through the process-wide cache: the first load reads everything, the next only stats.
    let glob = path.file_name().unwrap().to_string_lossy().into_owned();
    let first = Instant::now();
    let log = tensorboard::load(
        dir,
        &glob,
        "val/loss",
        ckptd::metrics::DEFAULT_MAX_METRIC_BYTES,
        &ckptd::metrics::Interest::default(),
    );
    let first = first.elapsed();
    assert_eq!(log.records.len() as u64, val_records);
    let again = Instant::now();
    tensorboard::load(
        dir,
        &glob,
        "val/loss",
        ckptd::metrics::DEFAULT_MAX_METRIC_BYTES,
        &ckptd::metrics::Interest::default(),
    );
    let again = again.elapsed();
    let ms = |d: Duration| d.as_secs_f64() * 1e3;
    println!(
        "{name}: {:.1} MB, {val_records} val/loss records",
        bytes as f64 / 1e6
    );
    for (label, cat_time, read_time) in
        [("warm", cat_warm, read_warm), ("cold", cat_cold, read_cold)]
    {
        println!(
            "  {label}: cat {:>7.1} ms ({:>5.0} MB/s)  ckptd {:>7.1} ms ({:>5.0} MB/s)  ratio {:.2}",
            ms(cat_time),
            mb_per_s(bytes, cat_time),
            ms(read_time),
            mb_per_s(bytes, read_time),
            cat_time.as_secs_f64() / read_time.as_secs_f64(),
        );
    }
    println!(
        "  cached load: first {:.1} ms, unchanged file {:.3} ms",
        ms(first),
        ms(again)
    );
    // Metrics by name (issue 9): every tag at the checkpoints' steps, here one checkpoint at
    // each val/loss step, read with no ranked tag (its own cache entry, so a first read).
    let steps: Vec<u64> = log.records.iter().map(|&(s, _)| s).collect();
    let interest = ckptd::metrics::Interest::new(steps.clone(), 1);
    let by_name = Instant::now();
    let named = tensorboard::load(
        dir,
        &glob,
        "",
        ckptd::metrics::DEFAULT_MAX_METRIC_BYTES,
        &interest,
    );
    let by_name = by_name.elapsed();
    println!(
        "  every tag at {} checkpoint steps: first load {:.1} ms ({} steps held)",
        steps.len(),
        ms(by_name),
        named.rows.len()
    );
    std::fs::remove_file(&path).unwrap();
}

fn main() {
    // `cargo bench` passes `--bench`; nothing to parse.
    let dir = tempfile::tempdir().unwrap();
    println!("TensorBoard read throughput vs cat (best of 3; ratio = cat time / ckptd time)");
    for profile in ["scalars", "mixed", "large"] {
        bench(dir.path(), profile);
    }
}
