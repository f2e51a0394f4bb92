//! The streaming reader against the full parser (`Found::from_document`, what ckptd used
//! before) on the JSON fixtures (tests/fixtures/json: a real-looking HF state with Python's NaN
//! and Infinity, a strict compact one, Orbax metrics, duplicate keys, odd shapes, JSON5), on
//! the documents of the other tests, and on random documents.

use std::path::{Path, PathBuf};

use proptest::prelude::*;

use super::*;

fn fixtures() -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/json");
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    assert!(files.len() >= 9, "{files:?}");
    files
}

const METRICS: [&str; 9] = [
    "eval_loss",
    "loss",
    "grad_norm",
    "accuracy",
    "top5",
    "step",
    "global_step",
    "log_history",
    "missing",
];
const STEPS: [Option<u64>; 7] = [
    None,
    Some(0),
    Some(12),
    Some(100),
    Some(120),
    Some(300),
    Some(400),
];

/// The full parser's answer for `text`, `None` when it cannot parse it.
fn full(text: &str, wanted: &Wanted<'_>) -> Option<Found> {
    json::parse::<Json>(text)
        .ok()
        .map(|doc| Found::from_document(&doc, wanted))
}

/// Equal, NaN included; other numbers within one ulp (serde_json's default float parsing
/// and JSON5's may differ in the last bit).
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

/// Through a file (left positioned at its end, as after writing it), with the JSON5 fallback
/// allowed or not.
fn read_through_file(text: &str, wanted: &Wanted<'_>, fallback: bool) -> Outcome {
    let mut file = tempfile::tempfile().unwrap();
    std::io::Write::write_all(&mut file, text.as_bytes()).unwrap();
    read_file(
        &file,
        wanted,
        Some(1 << 20),
        if fallback { 1 << 20 } else { 0 },
    )
    .unwrap()
}

#[test]
fn every_fixture_reads_as_the_full_parser_reads_it() {
    for file in fixtures() {
        let text = std::fs::read_to_string(&file).unwrap();
        for metric in METRICS.iter().map(|m| Some(*m)).chain([None]) {
            for (step, all) in STEPS.into_iter().flat_map(|s| [(s, false), (s, true)]) {
                let wanted = Wanted { step, metric, all };
                let expected = full(&text, &wanted);
                // Python's JSON needs no fallback; only the JSON5 fixture does.
                let fallback = file.ends_with("json5_only.json");
                let got = match read_through_file(&text, &wanted, fallback) {
                    Outcome::Found(found) => Some(found),
                    Outcome::Unparsable(_) => None,
                    Outcome::OverLimit => panic!("{file:?}: over the limit"),
                };
                match (&got, &expected) {
                    (Some(g), Some(e)) => {
                        assert!(same(g, e), "{file:?} {wanted:?}: {g:?} != {e:?}");
                    }
                    (None, None) => {}
                    _ => panic!("{file:?} {wanted:?}: {got:?} != {expected:?}"),
                }
            }
        }
    }
}

#[test]
fn the_fixtures_hold_what_they_are_for() {
    let found = |name: &str, step, metric| -> Found {
        let text = std::fs::read_to_string(
            Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("tests/fixtures/json")
                .join(name),
        )
        .unwrap();
        // The streaming reader alone, no fallback: Python's numbers included.
        read(
            text.as_bytes(),
            &Wanted {
                step,
                metric,
                all: true,
            },
        )
        .unwrap()
    };
    let hf = found("hf_trainer_state.json", Some(400), Some("eval_loss"));
    assert_eq!(hf.global_step, Some(500));
    assert_eq!(
        hf.best_model_checkpoint.as_deref(),
        Some("out/checkpoint-400")
    );
    assert!((hf.metric.unwrap() - 0.6).abs() < 1e-12);
    assert!(found("hf_trainer_state.json", Some(300), Some("eval_loss"))
        .metric
        .unwrap()
        .is_nan());
    assert!(found("hf_trainer_state.json", Some(120), Some("grad_norm"))
        .metric
        .unwrap()
        .is_nan());
    assert_eq!(
        found("hf_trainer_state.json", Some(250), Some("grad_norm")).metric,
        Some(f64::INFINITY)
    );
    let odd = found(
        "duplicates_and_odd_shapes.json",
        Some(300),
        Some("eval_loss"),
    );
    // The last of each duplicated key; entry 5's eval_loss is a string, so entry 6's 0.5.
    assert_eq!(odd.global_step, Some(500));
    assert_eq!(
        odd.best_model_checkpoint.as_deref(),
        Some("/abs/out/checkpoint-300")
    );
    assert_eq!(odd.metric, Some(0.5));
    assert_eq!(
        found(
            "duplicates_and_odd_shapes.json",
            Some(400),
            Some("eval_loss")
        )
        .metric,
        Some(f64::NEG_INFINITY)
    );
    assert_eq!(
        found("log_history_not_an_array.json", Some(12), Some("loss")).metric,
        Some(2.0)
    );
    assert_eq!(
        found("orbax_metrics.json", None, Some("top5")).metric,
        Some(f64::NEG_INFINITY)
    );
    // JSON5 needs the fallback; truncated and trailing text are errors for both.
    assert!(read(&b"{global_step: 1}"[..], &Wanted::default()).is_err());
    match read_through_file(
        &std::fs::read_to_string(
            Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/json/json5_only.json"),
        )
        .unwrap(),
        &Wanted {
            step: Some(100),
            metric: Some("eval_loss"),
            all: false,
        },
        true,
    ) {
        Outcome::Found(f) => assert_eq!((f.global_step, f.metric), (Some(100), Some(0.5))),
        other => panic!("{other:?}"),
    }
    for name in ["truncated.json", "trailing_value.json"] {
        let text = std::fs::read_to_string(
            Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("tests/fixtures/json")
                .join(name),
        )
        .unwrap();
        assert!(
            matches!(
                read_through_file(&text, &Wanted::default(), true),
                Outcome::Unparsable(_)
            ),
            "{name}"
        );
    }
}

#[test]
fn the_json5_fallback_is_used_only_within_its_limit_and_growth_past_the_limit_is_seen() {
    let json5 = r#"{global_step: 100, "x": [1, 2, 3, 4, 5, 6, 7, 8, 9]}"#;
    let mut file = tempfile::tempfile().unwrap();
    std::io::Write::write_all(&mut file, json5.as_bytes()).unwrap();
    let wanted = Wanted::default();
    let len = json5.len() as u64;
    assert!(matches!(
        read_file(&file, &wanted, None, len).unwrap(),
        Outcome::Found(_)
    ));
    assert!(matches!(
        read_file(&file, &wanted, None, len - 1).unwrap(),
        Outcome::Unparsable(_)
    ));
    // Over the limit: never read as anything else.
    let strict = format!(
        "{{\"global_step\": 100, \"pad\": \"{}\"}}",
        "x".repeat(1000)
    );
    let mut file = tempfile::tempfile().unwrap();
    std::io::Write::write_all(&mut file, strict.as_bytes()).unwrap();
    assert_eq!(
        read_file(&file, &wanted, Some(999), u64::MAX).unwrap(),
        Outcome::OverLimit
    );
    assert_eq!(
        read_file(&file, &wanted, Some(1 << 20), 0).unwrap(),
        Outcome::Found(Found {
            global_step: Some(100),
            ..Found::default()
        })
    );
}

#[test]
fn a_huge_log_history_is_streamed() {
    // 100,000 entries (about 9 MB) from a generator: never a whole text, never a tree.
    struct Generated {
        next: usize,
        chunk: Vec<u8>,
        at: usize,
    }
    impl Read for Generated {
        fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
            if self.at == self.chunk.len() {
                self.chunk = match self.next {
                    0 => b"{\"global_step\": 100000, \"log_history\": [".to_vec(),
                    n if n <= 100_000 => format!(
                        "{}{{\"loss\": {}, \"grad_norm\": NaN, \"step\": {n}}}",
                        if n == 1 { "" } else { ", " },
                        1.0 / f64::from(u32::try_from(n).unwrap())
                    )
                    .into_bytes(),
                    100_001 => b"], \"best_model_checkpoint\": \"out/checkpoint-7\"}".to_vec(),
                    _ => return Ok(0),
                };
                self.next += 1;
                self.at = 0;
            }
            let n = (self.chunk.len() - self.at).min(out.len());
            out[..n].copy_from_slice(&self.chunk[self.at..self.at + n]);
            self.at += n;
            Ok(n)
        }
    }
    let generated = Generated {
        next: 0,
        chunk: Vec::new(),
        at: 0,
    };
    let found = read(
        generated,
        &Wanted {
            step: Some(77_777),
            metric: Some("loss"),
            all: true,
        },
    )
    .unwrap();
    assert_eq!(found.global_step, Some(100_000));
    assert_eq!(
        found.best_model_checkpoint.as_deref(),
        Some("out/checkpoint-7")
    );
    assert_eq!(found.metric, Some(1.0 / 77_777.0));
}

/// A random JSON value as Python's `json.dumps` would write it (NaN and Infinity bare).
fn arb_value(keys: &'static [&'static str]) -> impl Strategy<Value = String> {
    let leaf = prop_oneof![
        (0u64..600).prop_map(|n| n.to_string()),
        (-5.0f64..5.0).prop_map(|f| format!("{f:?}")),
        Just("NaN".to_owned()),
        Just("Infinity".to_owned()),
        Just("-Infinity".to_owned()),
        Just("300.0".to_owned()),
        Just("null".to_owned()),
        Just("true".to_owned()),
        prop::sample::select(keys).prop_map(|k| format!("\"{k}\"")),
    ];
    leaf.prop_recursive(3, 40, 6, move |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(|v| format!("[{}]", v.join(", "))),
            prop::collection::vec((prop::sample::select(keys), inner), 0..6).prop_map(|v| {
                let body: Vec<String> = v.iter().map(|(k, x)| format!("\"{k}\": {x}")).collect();
                format!("{{{}}}", body.join(", "))
            }),
        ]
    })
}

const KEYS: &[&str] = &[
    "global_step",
    "best_model_checkpoint",
    "log_history",
    "step",
    "eval_loss",
    "loss",
    "x",
];

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn random_documents_read_as_the_full_parser_reads_them(
        doc in arb_value(KEYS),
        metric in prop::sample::select(&["eval_loss", "loss", "step", "log_history", "global_step"][..]),
        step in prop::option::of(prop::sample::select(&[0u64, 300, 500][..])),
    ) {
        for (metric, all) in [(Some(metric), false), (Some(metric), true), (None, true), (None, false)] {
            let wanted = Wanted { step, metric, all };
            let expected = full(&doc, &wanted);
            let got = read(doc.as_bytes(), &wanted).ok();
            if let (Some(g), Some(e)) = (&got, &expected) {
                prop_assert!(same(g, e), "{doc} {wanted:?}: {g:?} != {e:?}");
            } else {
                prop_assert_eq!(got, expected, "{} {:?}", doc, wanted);
            }
        }
    }
}

#[test]
fn a_string_too_long_to_stream_is_a_content_error_not_an_io_error() {
    let long = format!(
        "{{\"global_step\": 7, \"note\": \"{}\"}}",
        "x".repeat(crate::metrics::python_json::MAX_STRING + 1)
    );
    let mut file = tempfile::tempfile().unwrap();
    std::io::Write::write_all(&mut file, long.as_bytes()).unwrap();
    let wanted = Wanted::default();
    // Within the fallback's reach the whole text is parsed; beyond it, unparsable.
    match read_file(&file, &wanted, None, 4 << 20).unwrap() {
        Outcome::Found(found) => assert_eq!(found.global_step, Some(7)),
        other => panic!("{other:?}"),
    }
    match read_file(&file, &wanted, None, 1 << 20).unwrap() {
        Outcome::Unparsable(e) => assert!(e.contains("longer than"), "{e}"),
        other => panic!("{other:?}"),
    }
}
