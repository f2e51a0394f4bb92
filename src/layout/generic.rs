//! `generic`: any file or directory whose name matches the watch's `pattern` or `regex`;
//! complete after `settle` alone. Metrics can come from placeholders in the name.

use crate::checkpoint::Kind;
use crate::metrics::MetricSource;
use crate::pattern::{NamePattern, Recognition};

use super::Layout;

#[derive(Debug)]
pub struct Generic {
    pattern: NamePattern,
}

impl Generic {
    pub fn new(pattern: NamePattern) -> Self {
        Self { pattern }
    }
}

impl Layout for Generic {
    fn name(&self) -> &'static str {
        "generic"
    }

    fn recognise(&self, name: &str, _kind: Kind) -> Recognition {
        self.pattern.recognise(name)
    }

    fn default_metric_source(&self) -> Option<MetricSource> {
        Some(MetricSource::Filename)
    }

    fn names_carry(&self, metric: &str) -> bool {
        self.pattern.metric_names().any(|m| m == metric)
    }

    fn has_step(&self) -> bool {
        self.pattern.has_step()
    }
}
