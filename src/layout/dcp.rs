//! `dcp`: PyTorch Distributed Checkpoint directories. `torch.distributed.checkpoint.save`
//! writes the shard files first and the `.metadata` file last, so `.metadata` marks a
//! complete save. The directory names are the user's: `pattern` is required.

use std::path::Path;

use crate::checkpoint::{Kind, Marker};
use crate::pattern::{NameFields, NamePattern, Recognition};

use super::Layout;

#[derive(Debug)]
pub struct Dcp {
    pattern: NamePattern,
}

impl Dcp {
    pub fn new(pattern: NamePattern) -> Self {
        Self { pattern }
    }
}

impl Layout for Dcp {
    fn name(&self) -> &'static str {
        "dcp"
    }

    fn recognise(&self, name: &str, kind: Kind) -> Recognition {
        if kind != Kind::Dir {
            return Recognition::NotACheckpoint;
        }
        self.pattern.recognise(name)
    }

    fn marker(&self, unit: &Path, _kind: Kind, _fields: &NameFields) -> Marker {
        if unit.join(".metadata").is_file() {
            Marker::Present
        } else {
            Marker::Missing(".metadata not written yet".to_owned())
        }
    }

    fn names_carry(&self, metric: &str) -> bool {
        self.pattern.metric_names().any(|m| m == metric)
    }

    fn has_step(&self) -> bool {
        self.pattern.has_step()
    }
}
