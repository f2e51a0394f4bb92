//! Planning time (`ckptd::plan::plan`) for one run with 10,000 checkpoints, every rule on.
//!
//!   cargo bench --bench plan_10k

use std::num::NonZeroU64;
use std::time::{Duration, Instant, SystemTime};

use ckptd::checkpoint::{
    Checkpoint, Fingerprint, Kind, Marker, MetricObservation, Protection, Writers,
};
use ckptd::plan::{plan, Decision};
use ckptd::policy::{BestRule, EveryWindow, Mode, Policy};

const CHECKPOINTS: u64 = 10_000;

fn checkpoints(now: SystemTime) -> Vec<Checkpoint> {
    (1..=CHECKPOINTS)
        .map(|i| {
            // One save every 10 minutes, the newest a minute ago.
            let at = now - Duration::from_secs(60 + (CHECKPOINTS - i) * 600);
            #[allow(clippy::cast_precision_loss)]
            let loss = 1.0 + ((i * 7919) % 1000) as f64 / 1000.0;
            Checkpoint {
                name: format!("checkpoint-{}", i * 500),
                step: Some(i * 500),
                epoch: None,
                kind: Kind::Dir,
                fingerprint: Some(Fingerprint {
                    files: 8,
                    bytes: 1 << 30,
                    newest_mtime: at,
                    newest_ctime: at,
                    inodes: 0,
                }),
                stable_since: Some(at),
                marker: Marker::Present,
                writers: Writers::Checked { open: false },
                confirmed: None,
                metric: MetricObservation::Final(Some(loss)),
                metrics: ckptd::metrics::Metrics::default(),
                protections: if i % 1000 == 0 {
                    vec![Protection::Pinned]
                } else {
                    Vec::new()
                },
                scan_problem: None,
                slim: ckptd::checkpoint::Slim::Off,
            }
        })
        .collect()
}

fn main() {
    let now = SystemTime::now();
    let input = checkpoints(now);
    let policy = Policy {
        keep_last: Some(3),
        keep_best: Some(BestRule {
            count: NonZeroU64::new(5).unwrap(),
            metric: "eval_loss".to_owned(),
            mode: Mode::Min,
        }),
        keep_every_steps: NonZeroU64::new(100_000),
        keep_every: vec![EveryWindow {
            window: Duration::from_hours(24),
            count: None,
        }],
        keep_within: Some(Duration::from_hours(12)),
        slim_after: None,
        settle: Duration::from_secs(30),
        metric_timeout: Duration::from_hours(1),
    };
    let runs = 20;
    let mut times: Vec<Duration> = (0..runs)
        .map(|_| {
            let start = Instant::now();
            let p = plan(&input, &policy, now);
            let elapsed = start.elapsed();
            assert_eq!(p.verdicts.len(), input.len());
            assert!(p.verdicts.iter().any(|v| v.decision == Decision::Delete));
            elapsed
        })
        .collect();
    times.sort();
    let kept = plan(&input, &policy, now)
        .verdicts
        .iter()
        .filter(|v| v.decision == Decision::Keep)
        .count();
    println!(
        "plan: {CHECKPOINTS} checkpoints, {kept} kept; median {:.2} ms, min {:.2} ms, max {:.2} ms over {runs} runs",
        times[runs / 2].as_secs_f64() * 1e3,
        times[0].as_secs_f64() * 1e3,
        times[runs - 1].as_secs_f64() * 1e3,
    );
}
