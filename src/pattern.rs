//! Checkpoint name patterns: `model_step{step}.pt` placeholders, or a regex with named groups.
//!
//! `{step}` and `{epoch}` match digits; any other `{name}` matches a number and becomes the
//! metric `name` (the `filename` metric source); `*` matches anything. A `regex` uses named
//! groups the same way: `step`, `epoch`, and any other group name is a metric.

use std::fmt::Write;

use regex::Regex;

/// What a checkpoint name says about the checkpoint.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct NameFields {
    pub step: Option<u64>,
    pub epoch: Option<u64>,
    pub metrics: Vec<(String, f64)>,
}

impl NameFields {
    /// Fields holding only a step, as most framework directory names give.
    pub fn at_step(step: u64) -> Self {
        Self {
            step: Some(step),
            ..Self::default()
        }
    }

    pub fn metric(&self, name: &str) -> Option<f64> {
        self.metrics
            .iter()
            .find(|(n, _)| n == name)
            .map(|&(_, v)| v)
    }
}

/// The result of matching a name: not ours, ours, or ours but unreadable (a WARN, never a
/// deletion).
#[derive(Debug, Clone, PartialEq)]
pub enum Recognition {
    NotACheckpoint,
    Checkpoint(NameFields),
    Unparsable(String),
}

/// A compiled name pattern.
#[derive(Debug, Clone)]
pub struct NamePattern {
    source: String,
    regex: Regex,
    /// Regex group name → metric name (placeholders allow names a group name cannot hold).
    metric_groups: Vec<(String, String)>,
}

/// A number as Python formats it in a file name: `0.25`, `1e-05`, `-3`, `nan`, `inf`.
pub const NUMBER: &str =
    r"[-+]?(?:\d+\.?\d*(?:[eE][-+]?\d+)?|\.\d+(?:[eE][-+]?\d+)?|nan|NaN|inf|-inf)";

impl NamePattern {
    /// Compiles a placeholder pattern such as `model_step{step}.pt` or `{epoch}-{val_loss}.ckpt`.
    pub fn placeholders(pattern: &str) -> Result<Self, String> {
        // `(?s)`: names may hold newlines, and `*` must match them too.
        let mut regex = String::from("(?s)^");
        let mut metric_groups = Vec::new();
        let mut rest = pattern;
        while let Some(open) = rest.find(['{', '*']) {
            regex.push_str(&regex::escape(&rest[..open]));
            if rest[open..].starts_with('*') {
                regex.push_str(".*?");
                rest = &rest[open + 1..];
                continue;
            }
            let close = rest[open..]
                .find('}')
                .ok_or_else(|| format!("unclosed `{{` in pattern `{pattern}`"))?
                + open;
            let name = &rest[open + 1..close];
            match name {
                "step" | "epoch" if regex.contains(&format!("(?P<{name}>")) => {
                    return Err(format!("`{{{name}}}` appears twice in pattern `{pattern}`"));
                }
                "step" | "epoch" => {
                    let _ = write!(regex, r"(?P<{name}>\d+)");
                }
                _ if is_metric_name(name) => {
                    let group = format!("m{}", metric_groups.len());
                    let _ = write!(regex, "(?P<{group}>{NUMBER})");
                    metric_groups.push((group, name.to_owned()));
                }
                _ => {
                    return Err(format!(
                        "`{{{name}}}` in pattern `{pattern}` is not a placeholder: use {{step}}, {{epoch}} or a metric name"
                    ))
                }
            }
            rest = &rest[close + 1..];
        }
        if rest.contains('}') {
            return Err(format!("unmatched `}}` in pattern `{pattern}`"));
        }
        let varies = ["(?P<step>", "(?P<epoch>", ".*?"]
            .iter()
            .any(|part| regex.contains(part));
        if !varies {
            // `model.pt` names one file, which the trainer overwrites: there is nothing to
            // rotate, and a name that never changes is not a series of checkpoints.
            return Err(format!(
                "pattern `{pattern}` names a single file: a checkpoint pattern needs {{step}}, {{epoch}} or a `*`"
            ));
        }
        regex.push_str(&regex::escape(rest));
        regex.push('$');
        let regex = Regex::new(&regex).map_err(|e| e.to_string())?;
        Ok(Self {
            source: pattern.to_owned(),
            regex,
            metric_groups,
        })
    }

    /// Compiles a user regex; it must match the whole name (it is anchored here).
    pub fn regex(pattern: &str) -> Result<Self, String> {
        let regex = Regex::new(&format!("(?s)^(?:{pattern})$"))
            .map_err(|e| format!("invalid regex: {e}"))?;
        let metric_groups = regex
            .capture_names()
            .flatten()
            .filter(|g| *g != "step" && *g != "epoch")
            .map(|g| (g.to_owned(), g.to_owned()))
            .collect();
        Ok(Self {
            source: pattern.to_owned(),
            regex,
            metric_groups,
        })
    }

    pub fn source(&self) -> &str {
        &self.source
    }

    pub fn has_step(&self) -> bool {
        self.regex.capture_names().flatten().any(|g| g == "step")
    }

    /// The metric names the pattern can read from a file name.
    pub fn metric_names(&self) -> impl Iterator<Item = &str> {
        self.metric_groups.iter().map(|(_, name)| name.as_str())
    }

    pub fn recognise(&self, name: &str) -> Recognition {
        let Some(captures) = self.regex.captures(name) else {
            return Recognition::NotACheckpoint;
        };
        let number = |group: &str| -> Result<Option<u64>, String> {
            captures
                .name(group)
                .map(|m| {
                    m.as_str()
                        .parse::<u64>()
                        .map_err(|_| format!("{group} `{}` is not a whole number", m.as_str()))
                })
                .transpose()
        };
        let (step, epoch) = match (number("step"), number("epoch")) {
            (Ok(step), Ok(epoch)) => (step, epoch),
            (Err(e), _) | (_, Err(e)) => return Recognition::Unparsable(e),
        };
        let metrics = self
            .metric_groups
            .iter()
            .filter_map(|(group, metric)| {
                let text = captures.name(group)?.as_str();
                Some((metric.clone(), parse_number(text)?))
            })
            .collect();
        Recognition::Checkpoint(NameFields {
            step,
            epoch,
            metrics,
        })
    }
}

/// Metric names as frameworks log them: `eval_loss`, `val/loss`, `val-acc`.
fn is_metric_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || "_./-".contains(c))
}

/// Parses a number the way Python prints one (`nan`, `inf` included).
pub fn parse_number(text: &str) -> Option<f64> {
    text.trim().parse::<f64>().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_pattern_that_cannot_vary_is_refused() {
        let err = NamePattern::placeholders("model.pt").unwrap_err();
        assert_eq!(
            err,
            "pattern `model.pt` names a single file: a checkpoint pattern needs {step}, {epoch} or a `*`"
        );
        assert!(NamePattern::placeholders("{val_loss}.ckpt").is_err());
        for ok in ["model-{step}.pt", "epoch{epoch}.ckpt", "run-*.pt"] {
            assert!(NamePattern::placeholders(ok).is_ok(), "{ok}");
        }
    }

    fn fields(pattern: &NamePattern, name: &str) -> NameFields {
        match pattern.recognise(name) {
            Recognition::Checkpoint(f) => f,
            other => panic!("{name}: {other:?}"),
        }
    }

    #[test]
    fn placeholders_capture_step_epoch_and_metrics() {
        let p = NamePattern::placeholders("ep{epoch}-step{step}-{val/loss}.pt").unwrap();
        let f = fields(&p, "ep3-step1200-0.25.pt");
        assert_eq!((f.step, f.epoch), (Some(1200), Some(3)));
        assert_eq!(f.metric("val/loss"), Some(0.25));
        assert_eq!(p.metric_names().collect::<Vec<_>>(), ["val/loss"]);
        assert!(p.has_step());
    }

    #[test]
    fn placeholders_escape_literal_text_and_anchor() {
        let p = NamePattern::placeholders("model_step{step}.pt").unwrap();
        assert_eq!(fields(&p, "model_step7.pt").step, Some(7));
        assert_eq!(p.recognise("model_stepX.pt"), Recognition::NotACheckpoint);
        assert_eq!(p.recognise("model_step7.ptx"), Recognition::NotACheckpoint);
        assert_eq!(p.recognise("amodel_step7.pt"), Recognition::NotACheckpoint);
        assert_eq!(p.recognise("model_step7Apt"), Recognition::NotACheckpoint);
    }

    #[test]
    fn a_star_matches_anything() {
        let p = NamePattern::placeholders("*-step={step}*").unwrap();
        assert_eq!(
            fields(&p, "megatron_gpt--val_loss=1.2-step=400-consumed=1").step,
            Some(400)
        );
    }

    #[test]
    fn nan_and_exponents_are_numbers() {
        let p = NamePattern::placeholders("s{step}-{loss}").unwrap();
        assert!(fields(&p, "s1-nan").metric("loss").unwrap().is_nan());
        assert_eq!(fields(&p, "s1-1e-05").metric("loss"), Some(1e-5));
    }

    #[test]
    fn a_step_too_large_is_unparsable_not_a_match() {
        let p = NamePattern::placeholders("s{step}").unwrap();
        assert!(matches!(
            p.recognise("s99999999999999999999999"),
            Recognition::Unparsable(_)
        ));
    }

    #[test]
    fn bad_placeholders_are_refused() {
        assert!(NamePattern::placeholders("s{step")
            .unwrap_err()
            .contains("unclosed"));
        assert!(NamePattern::placeholders("s{step}{step}")
            .unwrap_err()
            .contains("twice"));
        assert!(NamePattern::placeholders("s{}")
            .unwrap_err()
            .contains("not a placeholder"));
        assert!(NamePattern::placeholders("s}")
            .unwrap_err()
            .contains("unmatched"));
    }

    #[test]
    fn regex_groups_name_step_and_metrics() {
        let p = NamePattern::regex(r"ckpt_(?P<step>\d+)_(?P<acc>[0-9.]+)\.bin").unwrap();
        let f = fields(&p, "ckpt_10_0.5.bin");
        assert_eq!(f.step, Some(10));
        assert_eq!(f.metric("acc"), Some(0.5));
        assert_eq!(p.recognise("xckpt_10_0.5.bin"), Recognition::NotACheckpoint);
        let bad = NamePattern::regex(r"c_(?P<step>\w+)").unwrap();
        assert!(matches!(bad.recognise("c_abc"), Recognition::Unparsable(_)));
    }
}
