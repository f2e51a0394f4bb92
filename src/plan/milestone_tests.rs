//! Planner tests of the milestone rules: `keep_every_steps` step windows and `keep_every` time
//! windows (counted, epoch-aligned weeks), with the details that name each window.

use std::num::NonZeroU64;
use std::time::Duration;

use super::tests::{ck, kept, now, reasons, ten};
use super::{plan, Reason};
use crate::checkpoint::{Checkpoint, Marker};
use crate::policy::{EveryWindow, Policy};

/// `keep_every` entries from (window in seconds, count).
pub(super) fn every(entries: &[(u64, Option<u64>)]) -> Vec<EveryWindow> {
    entries
        .iter()
        .map(|&(secs, count)| EveryWindow {
            window: Duration::from_secs(secs),
            count: count.and_then(NonZeroU64::new),
        })
        .collect()
}

#[test]
fn keep_every_steps_keeps_the_first_of_each_step_window() {
    // Windows [0, 400), [400, 800), [800, 1200): firsts 100, 400 and 800. The window from 0
    // counts too (k = 0): 0.1 kept only exact multiples, so checkpoint-100 went.
    let policy = Policy {
        keep_last: None,
        keep_every_steps: NonZeroU64::new(400),
        ..Policy::keep_last(0)
    };
    let p = plan(&ten(), &policy, now());
    assert_eq!(
        kept(&p),
        [
            "checkpoint-100",
            "checkpoint-400",
            "checkpoint-800",
            "checkpoint-1000"
        ]
    );
    assert_eq!(reasons(&p, "checkpoint-800"), [Reason::EverySteps]);
    assert_eq!(
        p.verdict("checkpoint-800").unwrap().detail,
        "first at or after step 800"
    );
    assert_eq!(
        p.verdict("checkpoint-100").unwrap().detail,
        "first at or after step 0"
    );
    assert_eq!(
        p.verdict("checkpoint-300").unwrap().detail,
        "not the first checkpoint in steps [0, 400) (checkpoint-100 is)"
    );
}

/// Complete checkpoints every `interval` steps from `interval` up to `last`, one a minute, the
/// newest a minute old.
fn every_n_steps(interval: u64, last: u64) -> Vec<Checkpoint> {
    let count = last / interval;
    (1..=count)
        .map(|i| {
            let step = i * interval;
            ck(&format!("checkpoint-{step}"), step, (count + 1 - i) * 60)
        })
        .collect()
}

#[test]
fn keep_every_steps_keeps_milestones_when_the_save_interval_does_not_divide_n() {
    // Lightning saving every 782 steps, N = 10000, over 24k steps: 0.1 kept no milestone at
    // all, since no step is a multiple of 10000.
    let policy = Policy {
        keep_last: None,
        keep_every_steps: NonZeroU64::new(10_000),
        ..Policy::keep_last(0)
    };
    let p = plan(&every_n_steps(782, 24_000), &policy, now());
    assert_eq!(
        kept(&p),
        [
            "checkpoint-782",
            "checkpoint-10166",
            "checkpoint-20332",
            "checkpoint-23460"
        ]
    );
    assert_eq!(reasons(&p, "checkpoint-10166"), [Reason::EverySteps]);
    assert_eq!(
        p.verdict("checkpoint-10166").unwrap().detail,
        "first at or after step 10000"
    );
    assert_eq!(
        p.verdict("checkpoint-10948").unwrap().detail,
        "not the first checkpoint in steps [10000, 20000) (checkpoint-10166 is)"
    );
    assert_eq!(
        reasons(&p, "checkpoint-23460"),
        [Reason::NewestComplete],
        "the newest is not the first of its window"
    );
}

#[test]
fn keep_every_steps_still_keeps_exact_multiples_and_nothing_for_an_empty_window() {
    // Saves every 2500 steps, then a gap from 10000 to 30000: the windows [10000, 20000) and
    // [20000, 30000) hold nothing and keep nothing; exact multiples are their window's first.
    let mut input = every_n_steps(2500, 10_000);
    input.extend([
        ck("checkpoint-30000", 30_000, 50),
        ck("checkpoint-31000", 31_000, 40),
    ]);
    let policy = Policy {
        keep_last: None,
        keep_every_steps: NonZeroU64::new(10_000),
        ..Policy::keep_last(0)
    };
    let p = plan(&input, &policy, now());
    assert_eq!(
        kept(&p),
        [
            "checkpoint-2500",
            "checkpoint-10000",
            "checkpoint-30000",
            "checkpoint-31000"
        ]
    );
    assert_eq!(reasons(&p, "checkpoint-10000"), [Reason::EverySteps]);
    assert_eq!(reasons(&p, "checkpoint-30000"), [Reason::EverySteps]);
    assert_eq!(reasons(&p, "checkpoint-31000"), [Reason::NewestComplete]);
}

#[test]
fn keep_every_steps_counts_only_complete_checkpoints_as_a_windows_first() {
    // checkpoint-10100 is still being written: the first COMPLETE one, 10900, is the milestone
    // meanwhile. Once 10100 completes it becomes the first and 10900 is no longer kept.
    let mut writing = ck("checkpoint-10100", 10_100, 500);
    writing.marker = Marker::Missing("trainer_state.json missing".to_owned());
    let input = vec![
        ck("checkpoint-9000", 9_000, 600),
        writing.clone(),
        ck("checkpoint-10900", 10_900, 400),
        ck("checkpoint-11700", 11_700, 200),
    ];
    let policy = Policy {
        keep_last: None,
        keep_every_steps: NonZeroU64::new(10_000),
        ..Policy::keep_last(0)
    };
    let p = plan(&input, &policy, now());
    assert_eq!(reasons(&p, "checkpoint-10100"), [Reason::Incomplete]);
    assert_eq!(reasons(&p, "checkpoint-10900"), [Reason::EverySteps]);
    assert_eq!(reasons(&p, "checkpoint-11700"), [Reason::NewestComplete]);

    let later = now() + Duration::from_hours(1);
    writing.marker = Marker::NotRequired;
    let mut input = input;
    input[1] = writing;
    let p = plan(&input, &policy, later);
    assert_eq!(reasons(&p, "checkpoint-10100"), [Reason::EverySteps]);
    assert_eq!(reasons(&p, "checkpoint-10900"), [Reason::Unkept]);
    assert_eq!(
        p.verdict("checkpoint-10900").unwrap().detail,
        "not the first checkpoint in steps [10000, 20000) (checkpoint-10100 is)"
    );
}

#[test]
fn keep_every_steps_survives_steps_and_windows_near_u64_max() {
    let top = u64::MAX;
    let input = vec![ck("a", 5, 300), ck("b", top - 1, 200), ck("c", top, 100)];
    for n in [top, top - 1, 2, 1] {
        let policy = Policy {
            keep_last: None,
            keep_every_steps: NonZeroU64::new(n),
            ..Policy::keep_last(0)
        };
        let p = plan(&input, &policy, now());
        assert_eq!(reasons(&p, "a"), [Reason::EverySteps], "N = {n}");
    }
    let policy = Policy {
        keep_last: None,
        keep_every_steps: NonZeroU64::new(top),
        ..Policy::keep_last(0)
    };
    let p = plan(&input, &policy, now());
    assert_eq!(
        p.verdict("b").unwrap().detail,
        "not the first checkpoint in steps [0, 18446744073709551615) (a is)"
    );
    assert_eq!(
        p.verdict("c").unwrap().detail,
        "first at or after step 18446744073709551615"
    );
}

#[test]
fn keep_every_keeps_the_first_of_each_epoch_aligned_window() {
    // now() is 2e9 s after the epoch, a multiple of 4h (14400 s)? 2e9 / 14400 = 138888.8…, so
    // the window boundary falls at 138888 * 14400 = 1_999_987_200, 12_800 s before now().
    let policy = Policy {
        keep_last: None,
        keep_every: every(&[(4 * 3600, None)]),
        ..Policy::keep_last(0)
    };
    let p = plan(&ten(), &policy, now());
    // Ages 36000, 32400 … 3600 s. The window [now-12800, …) holds ages 3600..10800
    // (checkpoint-800..1000, first = 800); [now-27200, now-12800) holds ages 14400..25200
    // (checkpoint-400..700, first = 400); [now-41600, now-27200) holds 28800..36000
    // (checkpoint-100..300, first = 100).
    assert_eq!(
        kept(&p),
        [
            "checkpoint-100",
            "checkpoint-400",
            "checkpoint-800",
            "checkpoint-1000"
        ]
    );
    assert_eq!(reasons(&p, "checkpoint-400"), [Reason::EveryWindow]);
    // 1_999_972_800 s after the epoch is 2033-05-17T20:00:00Z.
    assert_eq!(
        p.verdict("checkpoint-400").unwrap().detail,
        "first of the 4h window from 2033-05-17T20:00:00Z"
    );
    assert_eq!(
        p.verdict("checkpoint-500").unwrap().detail,
        "not the first of the 4h window from 2033-05-17T20:00:00Z (checkpoint-400 is)"
    );
}

const DAY: u64 = 86_400;

/// Hourly checkpoints over 60 days, the newest an hour old: step s completed (1441 − s) hours
/// before now() (2033-05-18T03:33:20Z, a Wednesday), so every day's first is at 00:33:20.
fn hourly_for_60_days() -> Vec<Checkpoint> {
    (1..=1440)
        .map(|step| ck(&format!("checkpoint-{step}"), step, (1441 - step) * 3600))
        .collect()
}

#[test]
fn keep_every_list_keeps_seven_dailies_and_four_weeklies() {
    let policy = Policy {
        keep_last: None,
        keep_every: every(&[(DAY, Some(7)), (7 * DAY, Some(4))]),
        ..Policy::keep_last(0)
    };
    let p = plan(&hourly_for_60_days(), &policy, now());
    assert_eq!(
        kept(&p),
        [
            // Thursdays 00:33, the first of the epoch-aligned weeks from 04-21, 04-28 and
            // 05-05 (the week from 05-12 has its first among the dailies).
            "checkpoint-790",
            "checkpoint-958",
            "checkpoint-1126",
            // 00:33 on each of the last seven days, 2033-05-12 to 2033-05-18.
            "checkpoint-1294",
            "checkpoint-1318",
            "checkpoint-1342",
            "checkpoint-1366",
            "checkpoint-1390",
            "checkpoint-1414",
            "checkpoint-1438",
            "checkpoint-1440",
        ]
    );
    assert_eq!(reasons(&p, "checkpoint-1294"), [Reason::EveryWindow]);
    assert_eq!(
        p.verdict("checkpoint-1294").unwrap().detail,
        "first of day 2033-05-12; first of week 2033-05-12..2033-05-18"
    );
    assert_eq!(
        p.verdict("checkpoint-790").unwrap().detail,
        "first of week 2033-04-21..2033-04-27"
    );
    assert_eq!(
        p.verdict("checkpoint-1439").unwrap().detail,
        "not the first of day 2033-05-18 (checkpoint-1438 is); \
         not the first of week 2033-05-12..2033-05-18 (checkpoint-1294 is)"
    );
    assert_eq!(
        p.verdict("checkpoint-1270").unwrap().detail,
        "first of day 2033-05-11, older than the 7 most recent days with a checkpoint; \
         not the first of week 2033-05-05..2033-05-11 (checkpoint-1126 is)"
    );
    assert_eq!(
        p.verdict("checkpoint-622").unwrap().detail,
        "first of day 2033-04-14, older than the 7 most recent days with a checkpoint; \
         first of week 2033-04-14..2033-04-20, older than the 4 most recent weeks with a checkpoint"
    );
}

#[test]
fn a_keep_every_count_skips_windows_without_a_checkpoint() {
    // Days with checkpoints: today, 2, 5 and 9 days ago. count = 3 keeps the three most
    // recent days that hold one, not the three most recent calendar days.
    let input = vec![
        ck("nine", 1, 9 * DAY),
        ck("five", 2, 5 * DAY),
        ck("two", 3, 2 * DAY),
        ck("two-later", 4, 2 * DAY - 60),
        ck("today", 5, 3600),
    ];
    let policy = Policy {
        keep_last: None,
        keep_every: every(&[(DAY, Some(3))]),
        ..Policy::keep_last(0)
    };
    let p = plan(&input, &policy, now());
    assert_eq!(kept(&p), ["five", "two", "today"]);
    assert_eq!(
        reasons(&p, "today"),
        [Reason::NewestComplete, Reason::EveryWindow]
    );
    assert_eq!(
        p.verdict("nine").unwrap().detail,
        "first of day 2033-05-09, older than the 3 most recent days with a checkpoint"
    );
    // Deleting what it does not keep changes nothing: the same three days stay.
    let left: Vec<Checkpoint> = input
        .into_iter()
        .filter(|c| !["nine", "two-later"].contains(&c.name.as_str()))
        .collect();
    assert_eq!(kept(&plan(&left, &policy, now())), ["five", "two", "today"]);
}

#[test]
fn keep_every_as_a_string_is_every_window_forever() {
    let policy = Policy {
        keep_last: None,
        keep_every: every(&[(DAY, None)]),
        ..Policy::keep_last(0)
    };
    let p = plan(&hourly_for_60_days(), &policy, now());
    let kept = kept(&p);
    // 61 UTC days hold a checkpoint (2033-03-19 to 2033-05-18): one each, plus the newest.
    assert_eq!(kept.len(), 62);
    assert_eq!(kept[0], "checkpoint-1");
    assert_eq!(
        p.verdict("checkpoint-1").unwrap().detail,
        "first of day 2033-03-19"
    );
}

#[test]
fn seven_day_windows_run_from_thursday_as_in_0_1() {
    // Epoch-aligned (DESIGN), as 0.1 cut them: 1970-01-01 was a Thursday. ISO weeks would
    // unkeep, on upgrade, a weekly checkpoint 0.1 kept (safety review of issue 9).
    let sunday = 3 * DAY + 3 * 3600 + 60; // Sunday 2033-05-15, 00:32:20
    let input = vec![
        ck("wednesday", 1, sunday + 4 * DAY),
        ck("sunday", 2, sunday),
        ck("monday", 3, sunday - DAY),
        ck("newest", 4, 60),
    ];
    let policy = Policy {
        keep_last: None,
        keep_every: every(&[(7 * DAY, None)]),
        ..Policy::keep_last(0)
    };
    let p = plan(&input, &policy, now());
    assert_eq!(kept(&p), ["wednesday", "sunday", "newest"]);
    assert_eq!(
        p.verdict("wednesday").unwrap().detail,
        "first of week 2033-05-05..2033-05-11"
    );
    assert_eq!(
        p.verdict("sunday").unwrap().detail,
        "first of week 2033-05-12..2033-05-18"
    );
    assert_eq!(
        p.verdict("monday").unwrap().detail,
        "not the first of week 2033-05-12..2033-05-18 (sunday is)"
    );
}

#[test]
fn every_save_at_a_windows_first_step_is_its_milestone() {
    // Lightning writes `step=10000-v1.ckpt` when it saves a name twice; 0.1 kept both as
    // multiples of N, so both stay (safety review of issue 9).
    let input = vec![
        ck("step=10000.ckpt", 10_000, 300),
        ck("step=10000-v1.ckpt", 10_000, 200),
        ck("step=10782.ckpt", 10_782, 100),
        ck("step=11564.ckpt", 11_564, 50),
    ];
    let policy = Policy {
        keep_last: None,
        keep_every_steps: NonZeroU64::new(10_000),
        ..Policy::keep_last(0)
    };
    let p = plan(&input, &policy, now());
    assert_eq!(
        kept(&p),
        ["step=10000.ckpt", "step=10000-v1.ckpt", "step=11564.ckpt"]
    );
    assert_eq!(
        p.verdict("step=10000-v1.ckpt").unwrap().detail,
        "first at or after step 10000"
    );
}
