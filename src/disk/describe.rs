//! How a filesystem's state and target read in `plan`, `status` and the logs.

use super::FsOutcome;
use crate::pressure::{Floor, Unit, Unmet};
use crate::report::human_bytes;

/// "/data: 6.2 GiB free (6.2%) of 100 GiB, 912034 inodes free; wants 13.0 GiB free
/// (min_free 10% = 10.0 GiB, headroom 3.0 GiB): 6.8 GiB missing; pressure: 3 to delete, 1 to
/// slim"
pub fn describe(outcome: &FsOutcome) -> String {
    let unmet = outcome
        .relief
        .unmet
        .as_ref()
        .map(|u| format!("; CANNOT BE MET: {}", unmet_text(u, &outcome.runs)))
        .unwrap_or_default();
    format!("{}{unmet}", describe_state(outcome))
}

/// As [`describe`], without what an unmet target protects (for lines next to the ERROR
/// that says it).
pub fn describe_state(outcome: &FsOutcome) -> String {
    let t = &outcome.target;
    let state = match &outcome.state {
        Ok(state) => state,
        Err(e) => return format!("{}: cannot measure: {e}", t.path.display()),
    };
    let before = &outcome.relief.before;
    let mut wants = Vec::new();
    if t.min_free.is_some() || t.headroom {
        let mut why = Vec::new();
        if let Some(floor) = t.min_free {
            why.push(floor_text(
                "min_free",
                floor,
                Unit::Bytes,
                state.total_bytes,
            ));
        }
        if t.headroom {
            let floor = t.min_free.map_or(0, |f| f.of(state.total_bytes));
            why.push(format!(
                "headroom {}",
                human_bytes(before.want_bytes.saturating_sub(floor))
            ));
        }
        wants.push(format!(
            "{} free ({})",
            human_bytes(before.want_bytes),
            why.join(", ")
        ));
    }
    if let Some(floor) = t.min_free_inodes {
        wants.push(format!(
            "{} inodes free ({})",
            before.want_inodes,
            floor_text("min_free_inodes", floor, Unit::Inodes, state.total_inodes)
        ));
    }
    let verdict = if !before.is_met() {
        format!("{} missing", amount_missing(before.bytes, before.inodes))
    } else if state.free_bytes < before.want_bytes || state.free_inodes < before.want_inodes {
        if outcome.coming == (0, 0) {
            "met once this plan's deletions are made".to_owned()
        } else {
            "met once what was deleted shows free".to_owned()
        }
    } else {
        "met".to_owned()
    };
    let (deletions, slims) = counts(outcome);
    let pressure = if deletions + slims == 0 {
        String::new()
    } else {
        format!("; pressure: {deletions} to delete, {slims} to slim")
    };
    let coming = match outcome.coming {
        (0, 0) => String::new(),
        (bytes, inodes) => format!(
            "; {} deleted but not shown free yet, counted as coming",
            super::amount(bytes, inodes)
        ),
    };
    format!(
        "{}: {} free ({:.1}%) of {}, {} inodes free; wants {}: {verdict}{pressure}{coming}",
        t.path.display(),
        human_bytes(state.free_bytes),
        percent(state.free_bytes, state.total_bytes),
        human_bytes(state.total_bytes),
        state.free_inodes,
        wants.join(" and ")
    )
}

/// "6.8 GiB", "12 inodes", "6.8 GiB and 12 inodes".
fn amount_missing(bytes: u64, inodes: u64) -> String {
    let mut missing = Vec::new();
    if bytes > 0 {
        missing.push(human_bytes(bytes));
    }
    if inodes > 0 {
        missing.push(format!("{inodes} inodes"));
    }
    missing.join(" and ")
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

/// `part` as a percentage of `total` (0 for an empty total).
#[allow(clippy::cast_precision_loss)]
pub fn percent(part: u64, total: u64) -> f64 {
    if total == 0 {
        0.0
    } else {
        part as f64 * 100.0 / total as f64
    }
}

/// How many protected checkpoints an unmet target names; the rest are counted.
const NAMED: usize = 4;

/// "6.8 GiB still missing after every deletion pressure may make; protected: 12 checkpoints
/// (45.0 GiB): a/ckpt-9.pt, b/ckpt-4.pt, … and 8 more: the newest complete of each run, …".
/// `runs`: the run directories the unmet's indices refer to.
pub fn unmet_text(unmet: &Unmet, runs: &[std::path::PathBuf]) -> String {
    let not_acting = match unmet.not_acting_runs {
        0 => String::new(),
        n => format!(
            ", and everything in {} ckptd does not act on (dry_run, or an invalid .ckptd.toml)",
            crate::report::count(n, "run")
        ),
    };
    let mut names: Vec<String> = unmet
        .protected
        .iter()
        .take(NAMED)
        .map(|(run, name)| match runs.get(*run) {
            // One run (a budget): its checkpoints' names are enough.
            Some(dir) if runs.len() > 1 => format!(
                "{}/{name}",
                dir.file_name().map_or_else(
                    || dir.display().to_string(),
                    |n| n.to_string_lossy().into_owned()
                )
            ),
            _ => name.clone(),
        })
        .collect();
    if unmet.protected_count > NAMED {
        names.push(format!("and {} more", unmet.protected_count - NAMED));
    }
    let listed = if names.is_empty() {
        String::new()
    } else {
        format!(" {};", names.join(", "))
    };
    format!(
        "{} still missing after every deletion pressure may make; protected: {} ({}):{listed} \
         the newest complete of each run, the best, pinned, pointed-at, in progress or \
         waiting for a metric{not_acting}",
        amount_missing(unmet.missing.bytes, unmet.missing.inodes),
        crate::report::count(unmet.protected_count, "checkpoint"),
        human_bytes(unmet.protected_bytes)
    )
}

/// The ERROR for a filesystem whose target cannot be met.
pub fn log_unmet(outcome: &FsOutcome, unmet: &Unmet) {
    let path = outcome.target.path.display();
    let text = unmet_text(unmet, &outcome.runs);
    tracing::error!(
        filesystem = %path,
        missing_bytes = unmet.missing.bytes,
        missing_inodes = unmet.missing.inodes,
        protected_bytes = unmet.protected_bytes,
        protected = unmet.protected_count,
        "cannot free enough space on {path}: {text}"
    );
}

/// "30.0 MiB and 12 inodes", "30.0 MiB", "12 inodes".
pub fn amount(bytes: u64, inodes: u64) -> String {
    let mut parts = Vec::new();
    if bytes > 0 || inodes == 0 {
        parts.push(human_bytes(bytes));
    }
    if inodes > 0 {
        parts.push(format!(
            "{inodes} inode{}",
            if inodes == 1 { "" } else { "s" }
        ));
    }
    parts.join(" and ")
}
