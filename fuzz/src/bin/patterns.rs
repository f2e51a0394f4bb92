//! Fuzzes checkpoint name recognition: `NamePattern::placeholders` and `NamePattern::regex`
//! compiled from part of the input, then every layout preset (`layout::build`, with that
//! pattern when it takes one) recognising names from the rest, as files and as directories.
//!
//! Input: byte 0 picks placeholders (even) or regex (odd) and the layout; the pattern runs to
//! the first NUL, the names (NUL-separated, so they may hold newlines) follow. Lossy UTF-8.
//!
//! Asserts: no panic; a recognised name's metrics are ones the pattern names; a name built
//! from a placeholder pattern (`{step}` → 7, `{epoch}` → 3, a metric → 0.5, `*` → empty) is
//! recognised as a checkpoint (or as unparsable), never as "not a checkpoint".

use ckptd::checkpoint::Kind;
use ckptd::layout::{self, PRESETS};
use ckptd::pattern::{NamePattern, Recognition};

/// Patterns and names are short; long regexes only make compiling slow.
const MAX_INPUT: usize = 4 << 10;

fn main() {
    afl::fuzz!(|data: &[u8]| one(data));
}

fn one(data: &[u8]) {
    if data.is_empty() || data.len() > MAX_INPUT {
        return;
    }
    let mode = data[0];
    let text = String::from_utf8_lossy(&data[1..]);
    let (source, names) = text.split_once('\0').unwrap_or((&text, ""));
    let names: Vec<&str> = names.split('\0').collect();
    let compiled = if mode & 1 == 0 {
        NamePattern::placeholders(source)
    } else {
        NamePattern::regex(source)
    };
    if let Ok(pattern) = &compiled {
        let metric_names: Vec<&str> = pattern.metric_names().collect();
        let _ = pattern.has_step();
        for name in &names {
            if let Recognition::Checkpoint(fields) = pattern.recognise(name) {
                for (metric, _) in &fields.metrics {
                    assert!(metric_names.contains(&metric.as_str()), "metric {metric:?}");
                }
            }
        }
        if mode & 1 == 0 {
            let instance = instance(source);
            assert_ne!(
                pattern.recognise(&instance),
                Recognition::NotACheckpoint,
                "{source:?} does not recognise {instance:?}"
            );
        }
    }
    let preset = PRESETS[usize::from(mode >> 1) % PRESETS.len()];
    let Ok(layout) = layout::build(preset, compiled.ok()) else {
        return;
    };
    for metric in ["eval_loss", "val_loss", "loss", ""] {
        let _ = layout.names_carry(metric);
    }
    let _ = (layout.has_step(), layout.default_metric_source());
    for name in &names {
        for kind in [Kind::File, Kind::Dir] {
            let _ = layout.recognise(name, kind);
        }
        let _ = layout.is_alias(name);
        let _ = layout::is_never_a_checkpoint(name);
    }
}

/// A name the placeholder pattern `source` describes (it compiled, so it is well formed).
fn instance(source: &str) -> String {
    let mut out = String::new();
    let mut rest = source;
    while let Some(open) = rest.find(['{', '*']) {
        out.push_str(&rest[..open]);
        if rest[open..].starts_with('*') {
            rest = &rest[open + 1..];
            continue;
        }
        let close = open + rest[open..].find('}').expect("compiled: closed");
        out.push_str(match &rest[open + 1..close] {
            "step" => "7",
            "epoch" => "3",
            _ => "0.5",
        });
        rest = &rest[close + 1..];
    }
    out.push_str(rest);
    out
}
