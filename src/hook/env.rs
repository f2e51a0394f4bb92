//! The environment of a hook: the checkpoint it is about, named the way the log fields are.

use std::path::Path;

use crate::config::Watch;
use crate::plan::Verdict;

/// Which hook runs: its `CKPTD_EVENT`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Event {
    Complete,
    BeforeDelete,
}

impl Event {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Complete => "complete",
            Self::BeforeDelete => "before-delete",
        }
    }

    /// The config key that names its command.
    pub fn key(self) -> &'static str {
        match self {
            Self::Complete => "on_complete",
            Self::BeforeDelete => "before_delete",
        }
    }
}

/// `CKPTD_*` for `v` in `run`. A value the checkpoint does not have (no step, no metric) is
/// an empty string, so a hook can tell "none" from "not set by this ckptd".
pub fn hook_env(event: Event, run: &Path, watch: &Watch, v: &Verdict) -> Vec<(String, String)> {
    let metric = watch.policy.keep_best.as_ref().map(|b| b.metric.as_str());
    let value = metric.and_then(|m| v.checkpoint.metrics.get(m).or(v.metric.value()));
    let metrics: serde_json::Map<String, serde_json::Value> = v
        .checkpoint
        .metrics
        .iter()
        .map(|(name, value)| (name.to_owned(), serde_json::json!(value)))
        .collect();
    let reasons: Vec<&str> = v.reasons.iter().map(|r| r.as_str()).collect();
    [
        ("CKPTD_EVENT", event.as_str().to_owned()),
        ("CKPTD_RUN", run.display().to_string()),
        ("CKPTD_WATCH", watch.name.clone()),
        ("CKPTD_CHECKPOINT", v.name.clone()),
        ("CKPTD_PATH", run.join(&v.name).display().to_string()),
        (
            "CKPTD_STEP",
            v.step.map(|s| s.to_string()).unwrap_or_default(),
        ),
        (
            "CKPTD_BYTES",
            v.bytes.map(|b| b.to_string()).unwrap_or_default(),
        ),
        ("CKPTD_METRIC", metric.unwrap_or_default().to_owned()),
        (
            "CKPTD_VALUE",
            value.map(|x| x.to_string()).unwrap_or_default(),
        ),
        (
            "CKPTD_METRICS",
            serde_json::Value::Object(metrics).to_string(),
        ),
        ("CKPTD_REASONS", reasons.join(",")),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v))
    .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;

    #[test]
    fn the_environment_names_the_checkpoint_its_step_size_metrics_and_reasons() {
        let config = Config::parse(
            "[[watch]]\nname = \"bert\"\nruns = [\"/r\"]\nlayout = \"generic\"\npattern = \"ckpt-{step}\"\nkeep_last = 1\nkeep_best = 1\nmetric = \"eval_loss\"\nmode = \"min\"\nmetric_source = { kind = \"checkpoint_json\", path = \"m.json\" }\n",
            Path::new("/etc/ckptd/ckptd.toml"),
        )
        .unwrap();
        let watch = &config.watches[0];
        let mut checkpoint = crate::offload::Manifest::new(
            "ckpt-500",
            true,
            1,
            vec![crate::offload::FileEntry {
                path: "w.bin".to_owned(),
                bytes: 2048,
                sha256: "0".repeat(64),
            }],
        );
        checkpoint.step = Some(500);
        checkpoint.metrics.insert("eval_loss".to_owned(), 0.25);
        checkpoint.metrics.insert("loss".to_owned(), 0.5);
        let plan = crate::plan::plan(
            &[checkpoint.to_checkpoint(Some("eval_loss"))],
            &watch.policy,
            std::time::SystemTime::now(),
        );
        let env = hook_env(
            Event::BeforeDelete,
            Path::new("/r/exp1"),
            watch,
            &plan.verdicts[0],
        );
        let get = |k: &str| env.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str());
        assert_eq!(get("CKPTD_EVENT"), Some("before-delete"));
        assert_eq!(get("CKPTD_RUN"), Some("/r/exp1"));
        assert_eq!(get("CKPTD_WATCH"), Some("bert"));
        assert_eq!(get("CKPTD_CHECKPOINT"), Some("ckpt-500"));
        assert_eq!(get("CKPTD_PATH"), Some("/r/exp1/ckpt-500"));
        assert_eq!(get("CKPTD_STEP"), Some("500"));
        assert_eq!(get("CKPTD_BYTES"), Some("2048"));
        assert_eq!(get("CKPTD_METRIC"), Some("eval_loss"));
        assert_eq!(get("CKPTD_VALUE"), Some("0.25"));
        assert_eq!(
            get("CKPTD_METRICS"),
            Some(r#"{"eval_loss":0.25,"loss":0.5}"#)
        );
        assert_eq!(get("CKPTD_REASONS"), Some("newest-complete,last,best"));
        assert_eq!(env.len(), 11);
    }
}
