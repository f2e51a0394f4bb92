//! `deepspeed`: `DeepSpeedEngine.save_checkpoint` tag directories, `global_step{step}` unless
//! the training script passes its own `tag` (then give `pattern`).
//!
//! Every rank writes its files into `<save_dir>/<tag>/` (`mp_rank_00_model_states.pt`,
//! `zero_pp_rank_D_mp_rank_XX_optim_states.pt`, `bf16_zero_pp_rank_…` under bf16, ZeRO-3's
//! `zero_pp_rank_D_mp_rank_XX_model_states.pt`); only after a barrier does rank 0 write
//! `<save_dir>/latest`, the tag with no newline. So `latest` proves its tag complete and names
//! the resume point (a pointer), and a tag with a higher step than `latest`'s is still being
//! written. Tags below it are judged by `settle`. Without `latest` nothing is known to be
//! complete. The `zero_to_fp32.py` DeepSpeed copies next to the tags is never a checkpoint.

use std::path::Path;

use crate::checkpoint::{Kind, Marker};
use crate::pattern::{NameFields, NamePattern, Recognition};

use super::{read_pointer_file, Layout, Pointer};

const LATEST: &str = "latest";

#[derive(Debug)]
pub struct DeepSpeed {
    pattern: NamePattern,
}

impl DeepSpeed {
    pub fn new(pattern: Option<NamePattern>) -> Self {
        Self {
            pattern: pattern.unwrap_or_else(|| {
                NamePattern::placeholders("global_step{step}").expect("fixed pattern")
            }),
        }
    }

    fn step_of(&self, tag: &str) -> Option<u64> {
        match self.pattern.recognise(tag) {
            Recognition::Checkpoint(fields) => fields.step,
            _ => None,
        }
    }
}

impl Layout for DeepSpeed {
    fn name(&self) -> &'static str {
        "deepspeed"
    }

    fn recognise(&self, name: &str, kind: Kind) -> Recognition {
        if kind != Kind::Dir {
            return Recognition::NotACheckpoint;
        }
        self.pattern.recognise(name)
    }

    fn marker(&self, unit: &Path, _kind: Kind, fields: &NameFields) -> Marker {
        let Some(run) = unit.parent() else {
            return Marker::Missing("no run directory".to_owned());
        };
        let latest = run.join(LATEST);
        let Some(tag) = read_pointer_file(&latest) else {
            if crate::regular_file::read(&latest).is_ok() {
                // There, but nothing in it: rank 0 crashed between opening and writing it.
                if crate::metrics::warn_once::first_time(&latest, "empty") {
                    tracing::warn!(run = %run.display(), path = %latest.display(), "{} is empty (a save crashed between opening and writing it?): no tag is known complete, none is deleted", latest.display());
                }
                return Marker::Missing(
                    "`latest` is empty (a save crashed between opening and writing it?): no tag is known complete".to_owned(),
                );
            }
            return Marker::Missing(
                "`latest` not written yet: no tag is known complete".to_owned(),
            );
        };
        crate::metrics::warn_once::read_fine(&latest);
        if unit.file_name().is_some_and(|n| *n == *tag) {
            return Marker::Present;
        }
        match (fields.step, self.step_of(&tag)) {
            (Some(step), Some(latest)) if step > latest => {
                Marker::Missing(format!("being written: `latest` still names {tag}"))
            }
            _ => Marker::NotRequired,
        }
    }

    fn pointers(&self, run: &Path, _checkpoints: &[(&str, Option<u64>)]) -> Vec<Pointer> {
        read_pointer_file(&run.join(LATEST))
            .map(|tag| Pointer {
                target: tag,
                why: "tag in `latest`".to_owned(),
            })
            .into_iter()
            .collect()
    }

    fn names_carry(&self, metric: &str) -> bool {
        self.pattern.metric_names().any(|m| m == metric)
    }

    fn has_step(&self) -> bool {
        self.pattern.has_step()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tag_directories_are_checkpoints_and_other_names_are_not() {
        let d = DeepSpeed::new(None);
        assert!(matches!(
            d.recognise("global_step1200", Kind::Dir),
            Recognition::Checkpoint(NameFields {
                step: Some(1200),
                ..
            })
        ));
        for (name, kind) in [
            ("global_step1200", Kind::File),
            ("latest", Kind::File),
            ("zero_to_fp32.py", Kind::File),
            ("global_step1200_universal", Kind::Dir),
        ] {
            assert_eq!(
                d.recognise(name, kind),
                Recognition::NotACheckpoint,
                "{name}"
            );
        }
    }

    #[test]
    fn an_empty_latest_says_so_and_proves_nothing() {
        let run = tempfile::tempdir().unwrap();
        std::fs::create_dir(run.path().join("global_step100")).unwrap();
        std::fs::write(run.path().join("latest"), "").unwrap();
        let d = DeepSpeed::new(None);
        assert_eq!(
            d.marker(
                &run.path().join("global_step100"),
                Kind::Dir,
                &NameFields::at_step(100)
            ),
            Marker::Missing(
                "`latest` is empty (a save crashed between opening and writing it?): no tag is known complete"
                    .to_owned()
            )
        );
    }

    #[test]
    fn latest_proves_its_tag_and_marks_higher_tags_in_progress() {
        let run = tempfile::tempdir().unwrap();
        let d = DeepSpeed::new(None);
        let unit = |n: u64| run.path().join(format!("global_step{n}"));
        assert!(matches!(
            d.marker(&unit(100), Kind::Dir, &NameFields::at_step(100)),
            Marker::Missing(_)
        ));
        std::fs::write(run.path().join("latest"), "global_step200").unwrap();
        assert_eq!(
            d.marker(&unit(200), Kind::Dir, &NameFields::at_step(200)),
            Marker::Present
        );
        assert_eq!(
            d.marker(&unit(100), Kind::Dir, &NameFields::at_step(100)),
            Marker::NotRequired
        );
        assert_eq!(
            d.marker(&unit(300), Kind::Dir, &NameFields::at_step(300)),
            Marker::Missing("being written: `latest` still names global_step200".to_owned())
        );
        assert_eq!(
            d.pointers(run.path(), &[]),
            [Pointer {
                target: "global_step200".to_owned(),
                why: "tag in `latest`".to_owned()
            }]
        );
    }

    #[test]
    fn custom_tags_follow_the_pattern() {
        let d = DeepSpeed::new(Some(
            NamePattern::placeholders("ckpt-epoch{epoch}-step{step}").unwrap(),
        ));
        assert!(matches!(
            d.recognise("ckpt-epoch2-step300", Kind::Dir),
            Recognition::Checkpoint(NameFields {
                step: Some(300),
                ..
            })
        ));
        assert_eq!(
            d.recognise("global_step300", Kind::Dir),
            Recognition::NotACheckpoint
        );
    }
}
