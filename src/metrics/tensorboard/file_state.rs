//! What has been read of one event file for one tag, and reading the rest of it.
//!
//! Event files only grow while a run trains, and can reach gigabytes, so a file is never read
//! twice: the state remembers the offset of the first record not yet read (a record the writer
//! has not finished flushing stays unread until it is whole) and the file's identity. A file
//! that shrank, or whose (device, inode) changed, was replaced and is read again from the start.
//! The file as a whole has no size limit (it is read once, record by record, keeping only the
//! tag's scalars); a single record longer than `max_metric_bytes` is skipped unread and
//! remembered by the step it carries, since it may hold the tag (see [`Unread`]).

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{Seek, SeekFrom};
use std::os::unix::fs::MetadataExt;
use std::path::Path;

use memchr::memmem::Finder;
use prost::Message;

use super::proto::{step_and_wall_time, Event, Head};
use super::records::{self, Record, Source, Stop};
use crate::checkpoint::OverCap;
use crate::metrics::named::Metrics;
use crate::metrics::run_log::Interest;

/// How many steps' scalars beyond the newest checkpoint are held at most, the latest ones:
/// the records of the next checkpoint's step arrive just before its directory does, so a few
/// suffice; a run logging every step for days without a checkpoint, or a first read of a
/// large file, must not grow the daemon. The steps checkpoints take are never evicted.
const MAX_AHEAD_STEPS: usize = 32;

/// A record over the limit, not read: whatever it holds for the tag at `step` is unknown.
#[derive(Debug, Clone, PartialEq)]
pub struct Unread {
    pub step: u64,
    pub wall_time: f64,
    pub over: OverCap,
}

/// One scalar of the tag.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Scalar {
    pub step: u64,
    pub wall_time: f64,
    pub value: f64,
}

/// The records of one tag read so far from one event file.
#[derive(Debug, Default, Clone)]
pub struct FileState {
    /// (device, inode) of the file read so far.
    identity: Option<(u64, u64)>,
    /// Where the next read starts: the end of the last whole, valid record.
    offset: u64,
    /// The file's size when last read: nothing to do while it stays the same.
    seen_len: u64,
    /// The offset of a corrupt record already reported, so that it is reported once.
    reported_corrupt: Option<u64>,
    /// The record limit the state was read with: another one reads the file again.
    max_record: u64,
    /// The tag's scalars, in file order.
    pub scalars: Vec<Scalar>,
    /// Records over the limit, by the step they carry.
    pub unread: Vec<Unread>,
    /// A record over the limit whose step could not be told: any checkpoint's metric may be in
    /// it.
    pub unread_anywhere: Option<OverCap>,
    /// Records over the limit that are no event (not said yet: the caller WARNs and clears).
    pub not_events: Vec<OverCap>,
    /// The greatest step of any event carrying the tag, scalar or not.
    pub max_step: Option<u64>,
    /// Every scalar tag at the steps of [`Interest`] (the metrics by name a checkpoint
    /// shows), with the latest wall time of the events: beyond the newest checkpoint by step,
    /// behind it merged under the checkpoint that takes them (see [`Interest::taker`]).
    pub others: BTreeMap<u64, (f64, Metrics)>,
}

impl FileState {
    /// Reads whatever `file` (opened at `path`) gained since the last call; a record longer
    /// than `max_record` bytes is skipped unread. Corruption is a WARN (once per offset) and
    /// the records before it are kept; only a file that cannot be read is an error. Every
    /// scalar at a step of `interest` is kept too (`tag` may be empty: those only).
    pub fn update(
        &mut self,
        mut file: File,
        path: &Path,
        tag: &str,
        max_record: u64,
        interest: &Interest,
    ) -> Result<(), String> {
        // The interest moves as checkpoints come and go: steps read ahead that a checkpoint
        // now takes are merged under it (in step order: the later step wins a name), and what
        // no checkpoint can take goes.
        let kept = std::mem::take(&mut self.others);
        for (step, (wall, metrics)) in kept {
            if let Some(key) = interest.taker(step) {
                let (w, merged) = self.others.entry(key).or_default();
                *w = w.max(wall);
                merged.extend(&metrics);
            }
        }
        let read = self.read_new(&mut file, path, tag, max_record, interest);
        self.trim_ahead(interest);
        read
    }

    fn read_new(
        &mut self,
        file: &mut File,
        path: &Path,
        tag: &str,
        max_record: u64,
        interest: &Interest,
    ) -> Result<(), String> {
        let meta = file.metadata().map_err(|e| e.to_string())?;
        let identity = (meta.dev(), meta.ino());
        if self.identity != Some(identity)
            || meta.len() < self.offset
            || self.max_record != max_record
        {
            *self = FileState {
                identity: Some(identity),
                max_record,
                ..FileState::default()
            };
        } else if meta.len() == self.seen_len {
            return Ok(());
        }
        file.seek(SeekFrom::Start(self.offset))
            .map_err(|e| e.to_string())?;
        let finder = Finder::new(tag.as_bytes());
        let source = Source {
            reader: file,
            start: self.offset,
            len: meta.len(),
        };
        let mut skipped = Vec::new();
        let scan = records::scan(
            source,
            max_record,
            (!tag.is_empty()).then_some(&finder),
            |record| self.absorb(record, tag, interest),
            |record| skipped.push((record.offset, record.len, step_and_wall_time(record.prefix))),
        )
        .map_err(|e| e.to_string())?;
        for (offset, len, head) in skipped {
            let over = OverCap {
                path: path.to_owned(),
                bytes: len,
                cap: max_record,
                offset: Some(offset),
            };
            match head {
                // A negative step is no training step (absorb ignores such events too).
                Head::Event { step, wall_time } => {
                    if let Ok(step) = u64::try_from(step) {
                        self.unread.push(Unread {
                            step,
                            wall_time,
                            over,
                        });
                    }
                }
                Head::TooShort => {
                    self.unread_anywhere.get_or_insert(over);
                }
                // Junk behind a valid length (a crafted file): said once, holds no metric.
                Head::NotAnEvent => self.not_events.push(over),
            }
        }
        self.offset = scan.end;
        self.seen_len = meta.len();
        if let Stop::Corrupt { offset, what } = scan.stop {
            if self.reported_corrupt != Some(offset) {
                self.reported_corrupt = Some(offset);
                tracing::warn!(
                    path = %path.display(),
                    offset,
                    reason = what,
                    "event file corrupt: records from this offset on are not read: {} at byte {offset}: {what}",
                    path.display()
                );
            }
        }
        Ok(())
    }

    /// Keeps at most [`MAX_AHEAD_STEPS`] steps beyond the newest checkpoint, the latest.
    fn trim_ahead(&mut self, interest: &Interest) {
        let Some(from) = interest.ahead_from() else {
            return;
        };
        while self.others.range(from..).nth(MAX_AHEAD_STEPS).is_some() {
            let oldest_ahead = self.others.range(from..).next().map(|(&s, _)| s);
            if let Some(step) = oldest_ahead {
                self.others.remove(&step);
            }
        }
    }

    /// Takes the tag's values from one record's data, and every scalar when its step is of
    /// `interest`. Only a record it uses has its data checksum checked (most hold other tags,
    /// and a corrupt record ckptd does not use changes no decision); a corrupt one that may
    /// hold the tag stops the reading there (`Err`), one wanted only for the metrics by name
    /// is passed over.
    fn absorb(
        &mut self,
        record: Record<'_>,
        tag: &str,
        interest: &Interest,
    ) -> Result<(), &'static str> {
        // Most records hold other tags: a record without the tag's bytes cannot hold the tag,
        // and skipping the decode of those (unless their step is of interest, which the first
        // bytes tell) is what makes a large file quick to read.
        let unchecked = record.unchecked();
        let may_hold_tag = !tag.is_empty() && record.holds_wanted();
        let of_interest = !interest.is_empty()
            && match step_and_wall_time(unchecked) {
                Head::Event { step, .. } => u64::try_from(step).is_ok_and(|s| interest.contains(s)),
                Head::NotAnEvent | Head::TooShort => false,
            };
        if !may_hold_tag && !of_interest {
            return Ok(());
        }
        let data = match record.data() {
            Ok(data) => data,
            Err(what) if may_hold_tag => return Err(what),
            Err(_) => return Ok(()),
        };
        // A record that passed its checksum but does not decode is not an event of any writer
        // ckptd knows; it holds no metric.
        let Ok(event) = Event::decode(data) else {
            return Ok(());
        };
        let (Ok(step), Some(summary)) = (u64::try_from(event.step), event.summary) else {
            return Ok(());
        };
        if let Some(key) = interest.taker(step).filter(|_| of_interest) {
            let (wall, metrics) = self.others.entry(key).or_default();
            *wall = wall.max(event.wall_time);
            for value in &summary.value {
                if let Some(v) = value.scalar() {
                    metrics.insert(&value.tag, v);
                }
            }
            // Bounded while reading, not after: a first read of a large file is all "ahead".
            self.trim_ahead(interest);
        }
        if !may_hold_tag {
            return Ok(());
        }
        for value in summary.value.iter().filter(|v| v.tag == tag) {
            self.max_step = self.max_step.max(Some(step));
            if let Some(v) = value.scalar() {
                self.scalars.push(Scalar {
                    step,
                    wall_time: event.wall_time,
                    value: v,
                });
            }
        }
        Ok(())
    }
}

#[cfg(test)]
impl FileState {
    /// Where the next read starts.
    pub fn offset(&self) -> u64 {
        self.offset
    }
}
