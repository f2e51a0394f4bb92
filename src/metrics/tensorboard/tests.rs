//! The TensorBoard source on real event files (tests/fixtures/tensorboard, written by
//! tensorboard's EventFileWriter), including files cut mid-record, corrupted, appended to between
//! two reads and replaced.

use std::io::Write;
use std::path::{Path, PathBuf};

use super::*;
use crate::metrics::run_log;

fn fixture(relative: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/tensorboard")
        .join(relative)
}

const EVENTS: &str = "events.out.tfevents.1700000000.node1.4242.0";
const MAX_RECORD: u64 = crate::metrics::DEFAULT_MAX_METRIC_BYTES;

/// `super::load` with the default record limit.
fn load(run: &Path, pattern: &str, tag: &str) -> RunLog {
    super::load(run, pattern, tag, MAX_RECORD, &Interest::default())
}

fn update(state: &mut FileState, path: &Path, tag: &str) -> Result<(), String> {
    let file = crate::regular_file::open(path).map_err(|e| e.to_string())?;
    state.update(file, path, tag, MAX_RECORD, &Interest::default())
}

/// A temp directory holding a copy of the `simple` event file, as `EVENTS` (each test its own
/// file: the process-wide cache is keyed by path).
fn simple_copy() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::copy(
        fixture(&format!("simple/{EVENTS}")),
        dir.path().join(EVENTS),
    )
    .unwrap();
    dir
}

/// simple_value is a 32-bit float: what the writer stored for `v`.
fn f32v(v: f64) -> f64 {
    #[allow(clippy::cast_possible_truncation)]
    f64::from(v as f32)
}

fn steps_values(state: &FileState) -> Vec<(u64, f64)> {
    state.scalars.iter().map(|s| (s.step, s.value)).collect()
}

#[test]
fn torch_style_scalars_are_read_with_their_steps() {
    let state = read_file(&fixture(&format!("simple/{EVENTS}")), "val/loss").unwrap();
    let expected: Vec<(u64, f64)> = [(100, 0.9), (200, 0.7), (300, 0.5), (400, 0.6), (500, 0.8)]
        .iter()
        .map(|&(s, v)| (s, f32v(v)))
        .collect();
    assert_eq!(steps_values(&state), expected);
    assert_eq!(state.max_step, Some(500));
    assert!((state.scalars[0].wall_time - 1_700_000_100.5).abs() < 1e-6);
    let train = read_file(&fixture(&format!("simple/{EVENTS}")), "train/loss").unwrap();
    assert_eq!(train.scalars.len(), 51);
    assert_eq!(
        read_file(&fixture(&format!("simple/{EVENTS}")), "nope")
            .unwrap()
            .max_step,
        None
    );
}

#[test]
fn every_tensor_encoding_is_read_and_non_scalars_are_not() {
    let file = fixture(&format!("tensors/{EVENTS}"));
    for tag in ["val/double_val", "val/tensor_content_double"] {
        let state = read_file(&file, tag).unwrap();
        assert_eq!(
            steps_values(&state),
            [(100, 0.1), (200, 0.2), (300, 0.3)],
            "{tag}"
        );
    }
    for tag in ["val/float_val", "val/tensor_content"] {
        let state = read_file(&file, tag).unwrap();
        assert_eq!(
            steps_values(&state),
            [(100, f32v(0.1)), (200, f32v(0.2)), (300, f32v(0.3))],
            "{tag}"
        );
    }
    let histogram = read_file(&file, "val/histogram").unwrap();
    assert!(histogram.scalars.is_empty());
    assert_eq!(histogram.max_step, Some(300));
}

#[test]
fn after_a_restart_the_latest_wall_time_wins_for_a_repeated_step() {
    let log = load(&fixture("restart"), ".", "val/loss");
    let expected: Vec<(u64, f64)> = [
        (100, 0.9),
        (200, 0.7),
        (300, 0.5),
        (400, 0.4),
        (500, 0.3),
        (600, 0.35),
        (700, 0.45),
    ]
    .iter()
    .map(|&(s, v)| (s, f32v(v)))
    .collect();
    assert_eq!(log.records, expected);
    assert_eq!(log.max_step, Some(700));
}

#[test]
fn the_wall_time_decides_not_the_file_order() {
    let dir = tempfile::tempdir().unwrap();
    // The resumed run's file sorts first here.
    std::fs::copy(
        fixture("restart/events.out.tfevents.1700010000.node1.5151.0"),
        dir.path().join("a.tfevents"),
    )
    .unwrap();
    std::fs::copy(
        fixture(&format!("restart/{EVENTS}")),
        dir.path().join("b.tfevents"),
    )
    .unwrap();
    let log = load(dir.path(), "*.tfevents", "val/loss");
    assert_eq!(log.records[3], (400, f32v(0.4)));
    assert_eq!(log.records[4], (500, f32v(0.3)));
}

#[test]
fn megatron_validation_ignores_the_vs_samples_tag() {
    let log = load(
        &fixture("megatron"),
        "events.out.tfevents.*",
        "lm loss validation",
    );
    assert_eq!(log.records.len(), 5);
    assert_eq!(log.records[0], (100, f32v(3.2)));
    // "lm loss validation vs samples" is logged against consumed samples, not iterations.
    assert_eq!(log.max_step, Some(500));
}

#[test]
fn a_file_cut_mid_record_gives_what_is_whole_then_the_rest_once_appended() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join(EVENTS);
    let full = std::fs::read(fixture(&format!("simple/{EVENTS}"))).unwrap();
    let cut = std::fs::read(fixture(&format!("truncated/{EVENTS}"))).unwrap();
    assert!(full.starts_with(&cut) && cut.len() < full.len());
    std::fs::write(&path, &cut).unwrap();

    let mut state = FileState::default();
    update(&mut state, &path, "val/loss").unwrap();
    assert_eq!(
        state.scalars.len(),
        4,
        "the last record (step 500) is not whole yet"
    );
    let resume_at = state.offset();
    assert!(resume_at < cut.len() as u64);

    // Prove the next read starts at the offset: spoil the first record in place (an
    // incremental reader never looks back at it), then let the writer finish its record.
    let mut file = std::fs::OpenOptions::new().write(true).open(&path).unwrap();
    file.write_all(&[0xff; 4]).unwrap();
    let mut file = std::fs::OpenOptions::new()
        .append(true)
        .open(&path)
        .unwrap();
    file.write_all(&full[cut.len()..]).unwrap();
    update(&mut state, &path, "val/loss").unwrap();
    assert_eq!(state.scalars.len(), 5);
    assert_eq!(state.scalars[4].step, 500);
    assert_eq!(state.offset(), full.len() as u64);
}

#[test]
fn load_resumes_through_the_cache_between_calls() {
    let dir = tempfile::tempdir().unwrap();
    let full = std::fs::read(fixture(&format!("simple/{EVENTS}"))).unwrap();
    let cut = std::fs::read(fixture(&format!("truncated/{EVENTS}"))).unwrap();
    std::fs::create_dir(dir.path().join("tb")).unwrap();
    let path = dir.path().join("tb").join(EVENTS);
    std::fs::write(&path, &cut).unwrap();
    let first = load(dir.path(), "tb", "val/loss");
    assert_eq!(first.records.len(), 4);
    assert_eq!(first.max_step, Some(400));
    std::fs::OpenOptions::new()
        .append(true)
        .open(&path)
        .unwrap()
        .write_all(&full[cut.len()..])
        .unwrap();
    let second = load(dir.path(), "tb", "val/loss");
    assert_eq!(second.records.len(), 5);
    assert_eq!(second.max_step, Some(500));
}

#[test]
fn a_replaced_or_shrunk_file_is_read_again_from_the_start() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join(EVENTS);
    std::fs::copy(fixture(&format!("simple/{EVENTS}")), &path).unwrap();
    let mut state = FileState::default();
    update(&mut state, &path, "val/loss").unwrap();
    assert_eq!(state.scalars.len(), 5);
    // A new file under the same name (new inode): the megatron run's tags are not there.
    let replacement = dir.path().join("new");
    std::fs::copy(fixture(&format!("megatron/{EVENTS}")), &replacement).unwrap();
    std::fs::rename(&replacement, &path).unwrap();
    update(&mut state, &path, "val/loss").unwrap();
    assert!(state.scalars.is_empty());
    // Shrunk in place (same inode): read again.
    std::fs::write(
        &path,
        std::fs::read(fixture(&format!("truncated/{EVENTS}"))).unwrap(),
    )
    .unwrap();
    update(&mut state, &path, "val/loss").unwrap();
    assert_eq!(state.scalars.len(), 4);
}

#[test]
fn a_corrupt_record_stops_the_file_and_keeps_what_came_before() {
    let path = fixture(&format!("corrupted/{EVENTS}"));
    let bad: u64 = std::fs::read_to_string(fixture("corrupted/OFFSET"))
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    let mut state = FileState::default();
    update(&mut state, &path, "train/loss").unwrap();
    assert_eq!(state.offset(), bad);
    // Records before the corrupt one are kept; nothing after it is read.
    let clean = read_file(&fixture(&format!("simple/{EVENTS}")), "train/loss").unwrap();
    assert!(!state.scalars.is_empty() && state.scalars.len() < clean.scalars.len());
    assert_eq!(state.scalars[..], clean.scalars[..state.scalars.len()]);
    // Reading again changes nothing (and does not report it again).
    update(&mut state, &path, "train/loss").unwrap();
    assert_eq!(state.offset(), bad);
}

#[test]
fn a_missing_glob_or_unreadable_file_gives_no_records() {
    let dir = tempfile::tempdir().unwrap();
    let log = load(dir.path(), "tb/*", "val/loss");
    assert!(log.records.is_empty());
    assert_eq!(log.max_step, None);
    assert!(read_file(&dir.path().join("nope"), "x").is_err());
}

#[test]
fn vanished_files_are_forgotten() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join(EVENTS);
    std::fs::copy(fixture(&format!("simple/{EVENTS}")), &path).unwrap();
    load(dir.path(), "events.*", "val/loss");
    let key = (path.clone(), "val/loss".to_owned());
    assert!(lock().contains_key(&key));
    std::fs::remove_file(&path).unwrap();
    load(dir.path(), "events.*", "val/loss");
    assert!(!lock().contains_key(&key));
}

/// One framed event at `step` holding `tag` = `value`, padded with `pad` bytes of another tag.
fn event_record(step: i64, tag: &str, value: f32, pad: usize) -> Vec<u8> {
    use prost::Message;
    let scalar = proto::SummaryValue {
        tag: tag.to_owned(),
        simple_value: Some(value),
        tensor: None,
        metadata: None,
    };
    let padding = proto::SummaryValue {
        tag: "images/sample".to_owned(),
        simple_value: None,
        tensor: Some(proto::TensorProto {
            dtype: 7,
            tensor_shape: None,
            tensor_content: vec![0xab; pad],
            float_val: Vec::new(),
            double_val: Vec::new(),
        }),
        metadata: None,
    };
    let event = proto::Event {
        wall_time: 1_700_000_000.0 + f64::from(i32::try_from(step).unwrap()),
        step,
        summary: Some(proto::Summary {
            value: vec![scalar, padding],
        }),
    };
    let mut out = Vec::new();
    records::encode(&event.encode_to_vec(), &mut out);
    out
}

#[test]
fn a_record_over_the_limit_is_skipped_and_makes_only_its_step_unknown() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join(EVENTS);
    let mut bytes = event_record(200, "val/loss", 0.7, 0);
    bytes.extend(event_record(300, "val/loss", 0.1, 2 << 20));
    bytes.extend(event_record(400, "val/loss", 0.5, 0));
    std::fs::write(&path, &bytes).unwrap();

    let log = super::load(
        dir.path(),
        "events.*",
        "val/loss",
        1 << 20,
        &Interest::default(),
    );
    assert_eq!(log.records, [(200, f32v(0.7)), (400, f32v(0.5))]);
    assert_eq!(log.unread.len(), 1);
    let (step, over) = &log.unread[0];
    assert_eq!(*step, 300);
    assert_eq!((over.path.as_path(), over.cap), (path.as_path(), 1 << 20));
    assert_eq!(
        over.offset,
        Some(event_record(200, "val/loss", 0.7, 0).len() as u64)
    );
    assert!(over.bytes > 2 << 20);
    // Step 300's metric (in the record not read) is unknown, not step 299's nor none; the
    // steps around it are read as usual. (Not counted as a later record either.)
    assert_eq!(
        run_log::select(&log, 300, 1),
        crate::checkpoint::MetricObservation::TooLarge(over.clone())
    );
    assert_eq!(run_log::select(&log, 400, 1).value(), Some(f32v(0.5)));
    assert_eq!(run_log::select(&log, 200, 1).value(), Some(f32v(0.7)));
    assert_eq!(log.max_step, Some(400));

    // With a larger limit the same cached file is read again, and 300 has its value.
    let log = super::load(
        dir.path(),
        "events.*",
        "val/loss",
        4 << 20,
        &Interest::default(),
    );
    assert!(log.unread.is_empty());
    assert_eq!(run_log::select(&log, 300, 1).value(), Some(f32v(0.1)));
}

#[test]
fn a_crafted_length_over_junk_is_skipped_without_reading_it_and_the_next_record_is_read() {
    // 40 MiB of zeros (a sparse file) behind a valid length header, then a real record.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join(EVENTS);
    let len: u64 = 40 << 20;
    let mut file = std::fs::File::create(&path).unwrap();
    file.write_all(&len.to_le_bytes()).unwrap();
    file.write_all(&records::masked_crc(&len.to_le_bytes()).to_le_bytes())
        .unwrap();
    file.set_len(12 + len + 4).unwrap();
    std::io::Seek::seek(&mut file, std::io::SeekFrom::End(0)).unwrap();
    file.write_all(&event_record(500, "val/loss", 0.25, 0))
        .unwrap();
    drop(file);

    let log = super::load(
        dir.path(),
        "events.*",
        "val/loss",
        1 << 20,
        &Interest::default(),
    );
    // Zeros are no event a writer makes: no step is made unknown by them.
    assert_eq!(log.records, [(500, f32v(0.25))]);
    assert!(log.unread.is_empty() && log.too_large.is_none());
}

#[test]
fn every_tag_is_read_at_the_steps_a_checkpoint_can_take_and_nowhere_else() {
    // Metrics by name (issue 9): every scalar tag at a checkpoint's step, without holding the
    // tags of every other step.
    let dir = simple_copy();
    let interest = Interest::new(vec![200, 400], 1);
    for tag in ["val/loss", ""] {
        let log = super::load(dir.path(), EVENTS, tag, MAX_RECORD, &interest);
        let steps: Vec<u64> = log.rows.iter().map(|(s, _)| *s).collect();
        assert!(!steps.is_empty(), "{tag:?}");
        assert!(
            steps.iter().all(|&s| (199..=200).contains(&s) || s >= 399),
            "{tag:?}: {steps:?}"
        );
        let at_200 = run_log::select_metrics(&log, 200, 1);
        assert_eq!(at_200.get("val/loss"), Some(f32v(0.7)), "{tag:?}");
        assert!(at_200.get("train/loss").is_some(), "{tag:?}: {at_200:?}");
        // Only the policy's tag is a record; an empty tag reads none.
        assert_eq!(log.records.is_empty(), tag.is_empty());
    }
    // A checkpoint step nobody asked about gives nothing, rather than a neighbour's values.
    let log = super::load(dir.path(), EVENTS, "val/loss", MAX_RECORD, &interest);
    assert!(run_log::select_metrics(&log, 100, 1).is_empty());
}

#[test]
fn steps_ahead_of_the_newest_checkpoint_are_bounded_and_a_checkpoints_step_is_never_evicted() {
    // Safety review of issue 9: a first read of a large file is all "ahead"; it was held
    // whole, then trimmed from the low end, which dropped the steps checkpoints take.
    let dir = simple_copy();
    let interest = Interest::new(vec![100], 1);
    let log = super::load(dir.path(), EVENTS, "val/loss", MAX_RECORD, &interest);
    let ahead: Vec<u64> = log
        .rows
        .iter()
        .map(|(s, _)| *s)
        .filter(|&s| s > 100)
        .collect();
    assert!(ahead.len() <= 32, "{ahead:?}");
    assert_eq!(ahead.last(), Some(&500), "the latest steps stay: {ahead:?}");
    assert_eq!(
        run_log::select_metrics(&log, 100, 1).get("val/loss"),
        Some(f32v(0.9))
    );
}

#[test]
fn a_long_window_keeps_one_entry_per_checkpoint_not_one_per_step() {
    // Re-check of issue 9: with metric_window as long as the save interval every step behind
    // the newest checkpoint was held (1.9 GB for a 560 MB file); now each checkpoint's records
    // are merged under it, the later step winning a name.
    let dir = simple_copy();
    let interest = Interest::new(vec![100, 200, 300, 400, 500], 99);
    let log = super::load(dir.path(), EVENTS, "val/loss", MAX_RECORD, &interest);
    let keys: Vec<u64> = log.rows.iter().map(|(s, _)| *s).collect();
    assert_eq!(keys, [100, 200, 300, 400, 500]);
    let at_200 = run_log::select_metrics(&log, 200, 99);
    assert_eq!(at_200.get("val/loss"), Some(f32v(0.7)));
    assert!(at_200.get("train/loss").is_some(), "{at_200:?}");
}
