//! How a filesystem's state and target read in `plan`, `status` and the logs.

use super::FsOutcome;
use crate::pressure::{Floor, Unit, Unmet};
use crate::report::human_bytes;

/// "/data: 6.2 GiB free (6.2%) of 100 GiB, 91% inodes free; wants 13.0 GiB free (min_free
/// 10%, headroom 3.0 GiB): 6.8 GiB missing; pressure: 3 deletions, 1 slim"
pub fn describe(outcome: &FsOutcome) -> String {
    let t = &outcome.target;
    let state = match &outcome.state {
        Ok(state) => state,
        Err(e) => return format!("{}: cannot measure: {e}", t.path.display()),
    };
    let mut wants = Vec::new();
    if let Some(floor) = t.min_free {
        wants.push(floor_text(
            "min_free",
            floor,
            Unit::Bytes,
            state.total_bytes,
        ));
    }
    if t.headroom {
        let floor = t.min_free.map_or(0, |f| f.of(state.total_bytes));
        wants.push(format!(
            "headroom {}",
            human_bytes(outcome.relief.before.want_bytes.saturating_sub(floor))
        ));
    }
    if let Some(floor) = t.min_free_inodes {
        wants.push(floor_text(
            "min_free_inodes",
            floor,
            Unit::Inodes,
            state.total_inodes,
        ));
    }
    let before = &outcome.relief.before;
    let verdict = if before.is_met() {
        "met".to_owned()
    } else {
        let mut missing = Vec::new();
        if before.bytes > 0 {
            missing.push(human_bytes(before.bytes));
        }
        if before.inodes > 0 {
            missing.push(format!("{} inodes", before.inodes));
        }
        format!("{} missing", missing.join(" and "))
    };
    let (deletions, slims) = counts(outcome);
    let pressure = if deletions + slims == 0 {
        String::new()
    } else {
        format!("; pressure: {deletions} to delete, {slims} to slim")
    };
    let unmet = outcome
        .relief
        .unmet
        .as_ref()
        .map(|u| format!("; CANNOT BE MET: {}", unmet_text(u)))
        .unwrap_or_default();
    format!(
        "{}: {} free ({:.1}%) of {}, {} inodes free; wants {} free ({}): {verdict}{pressure}{unmet}",
        t.path.display(),
        human_bytes(state.free_bytes),
        percent(state.free_bytes, state.total_bytes),
        human_bytes(state.total_bytes),
        state.free_inodes,
        human_bytes(before.want_bytes),
        wants.join(", ")
    )
}

fn counts(outcome: &FsOutcome) -> (usize, usize) {
    let slims = outcome
        .relief
        .orders
        .iter()
        .filter(|o| o.action == crate::pressure::Action::Slim)
        .count();
    (outcome.relief.orders.len() - slims, slims)
}

fn floor_text(key: &str, floor: Floor, unit: Unit, total: u64) -> String {
    match floor {
        Floor::Percent(_) => format!(
            "{key} {} = {}",
            floor.show(unit),
            unit.show(floor.of(total))
        ),
        Floor::Amount(_) => format!("{key} {}", floor.show(unit)),
    }
}

#[allow(clippy::cast_precision_loss)]
fn percent(part: u64, total: u64) -> f64 {
    if total == 0 {
        0.0
    } else {
        part as f64 * 100.0 / total as f64
    }
}

/// "6.8 GiB still missing after every deletion allowed; protected: 12 checkpoints (45.0 GiB):
/// the newest of each run, the best, pinned, pointed-at, in progress"
pub fn unmet_text(unmet: &Unmet) -> String {
    let mut missing = Vec::new();
    if unmet.missing.bytes > 0 {
        missing.push(human_bytes(unmet.missing.bytes));
    }
    if unmet.missing.inodes > 0 {
        missing.push(format!("{} inodes", unmet.missing.inodes));
    }
    let not_acting = match unmet.not_acting_runs {
        0 => String::new(),
        1 => ", and everything in 1 run ckptd does not act on (dry_run, or an invalid \
              .ckptd.toml)"
            .to_owned(),
        n => format!(
            ", and everything in {n} runs ckptd does not act on (dry_run, or an invalid \
             .ckptd.toml)"
        ),
    };
    format!(
        "{} still missing after every deletion pressure may make; protected: {} checkpoint{} \
         ({}): the newest complete of each run, the best, pinned, pointed-at, in progress or \
         waiting for a metric{not_acting}",
        missing.join(" and "),
        unmet.protected_count,
        if unmet.protected_count == 1 { "" } else { "s" },
        human_bytes(unmet.protected_bytes)
    )
}

/// The ERROR for a filesystem whose target cannot be met.
pub fn log_unmet(outcome: &FsOutcome, unmet: &Unmet) {
    let path = outcome.target.path.display();
    let text = unmet_text(unmet);
    tracing::error!(
        filesystem = %path,
        missing_bytes = unmet.missing.bytes,
        missing_inodes = unmet.missing.inodes,
        protected_bytes = unmet.protected_bytes,
        protected = unmet.protected_count,
        "cannot free enough space on {path}: {text}"
    );
}
