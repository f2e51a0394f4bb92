//! The TensorBoard source on real event files (tests/fixtures/tensorboard, written by
//! tensorboard's EventFileWriter), including files cut mid-record, corrupted, appended to between
//! two reads and replaced.

use std::io::Write;
use std::path::{Path, PathBuf};

use super::*;

fn fixture(relative: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/tensorboard")
        .join(relative)
}

const EVENTS: &str = "events.out.tfevents.1700000000.node1.4242.0";

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
    state.update(&path, "val/loss").unwrap();
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
    state.update(&path, "val/loss").unwrap();
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
    state.update(&path, "val/loss").unwrap();
    assert_eq!(state.scalars.len(), 5);
    // A new file under the same name (new inode): the megatron run's tags are not there.
    let replacement = dir.path().join("new");
    std::fs::copy(fixture(&format!("megatron/{EVENTS}")), &replacement).unwrap();
    std::fs::rename(&replacement, &path).unwrap();
    state.update(&path, "val/loss").unwrap();
    assert!(state.scalars.is_empty());
    // Shrunk in place (same inode): read again.
    std::fs::write(
        &path,
        std::fs::read(fixture(&format!("truncated/{EVENTS}"))).unwrap(),
    )
    .unwrap();
    state.update(&path, "val/loss").unwrap();
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
    state.update(&path, "train/loss").unwrap();
    assert_eq!(state.offset(), bad);
    // Records before the corrupt one are kept; nothing after it is read.
    let clean = read_file(&fixture(&format!("simple/{EVENTS}")), "train/loss").unwrap();
    assert!(!state.scalars.is_empty() && state.scalars.len() < clean.scalars.len());
    assert_eq!(state.scalars[..], clean.scalars[..state.scalars.len()]);
    // Reading again changes nothing (and does not report it again).
    state.update(&path, "train/loss").unwrap();
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
