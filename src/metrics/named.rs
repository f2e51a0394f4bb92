//! Every metric a source has for one checkpoint's step, by name: what "checkpoint complete",
//! `plan --json` and the ledger show beside the policy's own metric (DESIGN "Metric sources":
//! HF's `log_history` entries at the step, Lightning's filename fields, Orbax's
//! `metrics/metrics`, a CSV/JSONL row, every TensorBoard scalar tag at the step).
//!
//! At most [`MAX_METRICS`] names are kept, the first ones in name order, so a file with
//! thousands of keys (per-layer gradient norms) costs a bounded amount, and which ones are kept
//! does not depend on the order they were read in.

use std::collections::BTreeMap;

/// How many metrics one checkpoint carries at most.
pub const MAX_METRICS: usize = 64;

/// The longest metric name kept, in bytes: a 20 MB key in a crafted file would otherwise go
/// whole into every log line, ledger line and "did you mean".
pub const MAX_NAME_BYTES: usize = 256;

/// Metrics by name; the value for a name seen twice is the later one.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Metrics(BTreeMap<String, f64>);

impl Metrics {
    /// Records `value` for `name`, the later value winning; past [`MAX_METRICS`] names the
    /// last in name order is dropped.
    pub fn insert(&mut self, name: &str, value: f64) {
        if name.len() > MAX_NAME_BYTES {
            return;
        }
        if let Some(slot) = self.0.get_mut(name) {
            *slot = value;
            return;
        }
        if self.0.len() >= MAX_METRICS
            && self
                .0
                .last_key_value()
                .is_some_and(|(last, _)| name > last.as_str())
        {
            return;
        }
        self.0.insert(name.to_owned(), value);
        if self.0.len() > MAX_METRICS {
            self.0.pop_last();
        }
    }

    /// Adds `later`'s values over these.
    pub fn extend(&mut self, later: &Metrics) {
        for (name, &value) in &later.0 {
            self.insert(name, value);
        }
    }

    /// Forgets `name`: a later record gave it no number.
    pub fn remove(&mut self, name: &str) {
        self.0.remove(name);
    }

    pub fn get(&self, name: &str) -> Option<f64> {
        self.0.get(name).copied()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn iter(&self) -> impl Iterator<Item = (&str, f64)> {
        self.0.iter().map(|(k, &v)| (k.as_str(), v))
    }

    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.0.keys().map(String::as_str)
    }

    /// `eval_loss=0.4127 eval_accuracy=0.9100 loss=0.3812`: the policy's metric first (with
    /// its value even when it is not among these), then the others in name order.
    pub fn text(&self, policy: Option<(&str, Option<f64>)>) -> String {
        let mut parts = Vec::with_capacity(self.0.len() + 1);
        let first = policy.and_then(|(name, value)| value.or(self.get(name)).map(|v| (name, v)));
        if let Some((name, value)) = first {
            parts.push(format!("{name}={}", crate::report::metric_text(value)));
        }
        for (name, value) in self.iter() {
            if first.is_some_and(|(f, _)| f == name) {
                continue;
            }
            parts.push(format!("{name}={}", crate::report::metric_text(value)));
        }
        parts.join(" ")
    }

    /// As JSON: an object of numbers, NaN and the infinities as strings (DESIGN "Metric
    /// sources").
    pub fn to_json(&self) -> serde_json::Value {
        self.0
            .iter()
            .map(|(k, &v)| (k.clone(), number_json(Some(v))))
            .collect::<serde_json::Map<_, _>>()
            .into()
    }

    /// Reads back what [`Metrics::to_json`] wrote (the ledger); anything else is skipped.
    pub fn from_json(value: &serde_json::Value) -> Self {
        let mut metrics = Self::default();
        if let Some(object) = value.as_object() {
            for (name, v) in object {
                if let Some(n) = number_from_json(v) {
                    metrics.insert(name, n);
                }
            }
        }
        metrics
    }
}

/// A metric as JSON: a number, `null` when absent, or a string for NaN and the infinities,
/// which JSON numbers cannot hold.
pub fn number_json(value: Option<f64>) -> serde_json::Value {
    match value {
        None => serde_json::Value::Null,
        Some(v) if v.is_nan() => "NaN".into(),
        Some(v) if v == f64::INFINITY => "Infinity".into(),
        Some(v) if v == f64::NEG_INFINITY => "-Infinity".into(),
        Some(v) => v.into(),
    }
}

/// The inverse of [`number_json`].
pub fn number_from_json(value: &serde_json::Value) -> Option<f64> {
    match value {
        serde_json::Value::Number(n) => n.as_f64(),
        serde_json::Value::String(s) => match s.as_str() {
            "NaN" => Some(f64::NAN),
            "Infinity" => Some(f64::INFINITY),
            "-Infinity" => Some(f64::NEG_INFINITY),
            _ => None,
        },
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_policy_metric_comes_first_then_the_rest_by_name() {
        let mut m = Metrics::default();
        for (k, v) in [
            ("loss", 0.3812),
            ("eval_loss", 0.4127),
            ("eval_accuracy", 0.91),
        ] {
            m.insert(k, v);
        }
        assert_eq!(
            m.text(Some(("eval_loss", Some(0.4127)))),
            "eval_loss=0.4127 eval_accuracy=0.9100 loss=0.3812"
        );
        assert_eq!(
            m.text(None),
            "eval_accuracy=0.9100 eval_loss=0.4127 loss=0.3812"
        );
        // A policy metric not among them (past the cap) is still shown.
        assert_eq!(
            Metrics::default().text(Some(("val", Some(1.0)))),
            "val=1.0000"
        );
        assert_eq!(Metrics::default().text(Some(("val", None))), "");
    }

    #[test]
    fn at_most_64_names_the_first_by_name_whatever_the_order_read() {
        let names: Vec<String> = (0..200).map(|i| format!("m{i:03}")).collect();
        let mut forward = Metrics::default();
        let mut backward = Metrics::default();
        for n in &names {
            forward.insert(n, 1.0);
        }
        for n in names.iter().rev() {
            backward.insert(n, 1.0);
        }
        assert_eq!(forward.len(), MAX_METRICS);
        assert_eq!(forward, backward);
        assert_eq!(forward.names().last(), Some("m063"));
        // The later value wins.
        forward.insert("m000", 2.0);
        assert_eq!(forward.get("m000"), Some(2.0));
        // A name longer than any metric's is not kept.
        forward.insert(&"a".repeat(MAX_NAME_BYTES + 1), 1.0);
        assert!(forward.names().all(|n| n.len() <= MAX_NAME_BYTES));
    }

    #[test]
    fn json_round_trips_nan_and_infinities() {
        let mut m = Metrics::default();
        m.insert("a", f64::NAN);
        m.insert("b", f64::NEG_INFINITY);
        m.insert("c", 0.5);
        let json = m.to_json();
        assert_eq!(
            json,
            serde_json::json!({"a": "NaN", "b": "-Infinity", "c": 0.5})
        );
        let back = Metrics::from_json(&json);
        assert!(back.get("a").unwrap().is_nan());
        assert_eq!(back.get("b"), Some(f64::NEG_INFINITY));
        assert_eq!(back.get("c"), Some(0.5));
    }
}
