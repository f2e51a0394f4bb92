//! What has been read of one event file for one tag, and reading the rest of it.
//!
//! Event files only grow while a run trains, and can reach gigabytes, so a file is never read
//! twice: the state remembers the offset of the first record not yet read (a record the writer
//! has not finished flushing stays unread until it is whole) and the file's identity. A file
//! that shrank, or whose (device, inode) changed, was replaced and is read again from the start.

use std::io::{Seek, SeekFrom};
use std::os::unix::fs::MetadataExt;
use std::path::Path;

use memchr::memmem::Finder;
use prost::Message;

use super::proto::Event;
use super::records::{self, Stop};

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
    /// The tag's scalars, in file order.
    pub scalars: Vec<Scalar>,
    /// The greatest step of any event carrying the tag, scalar or not.
    pub max_step: Option<u64>,
}

impl FileState {
    /// Reads whatever `path` gained since the last call. Corruption is a WARN (once per
    /// offset) and the records before it are kept; only a file that cannot be read is an error.
    pub fn update(&mut self, path: &Path, tag: &str) -> Result<(), String> {
        let mut file = crate::regular_file::open(path).map_err(|e| e.to_string())?;
        let meta = file.metadata().map_err(|e| e.to_string())?;
        let identity = (meta.dev(), meta.ino());
        if self.identity != Some(identity) || meta.len() < self.offset {
            *self = FileState {
                identity: Some(identity),
                ..FileState::default()
            };
        } else if meta.len() == self.seen_len {
            return Ok(());
        }
        file.seek(SeekFrom::Start(self.offset))
            .map_err(|e| e.to_string())?;
        let finder = Finder::new(tag.as_bytes());
        let start = self.offset;
        let scan = records::scan(&mut file, start, |data| self.absorb(data, tag, &finder))
            .map_err(|e| e.to_string())?;
        self.offset = scan.end;
        self.seen_len = meta.len();
        if let Stop::Corrupt { offset, what } = scan.stop {
            if self.reported_corrupt != Some(offset) {
                self.reported_corrupt = Some(offset);
                tracing::warn!(
                    path = %path.display(),
                    offset,
                    reason = what,
                    "event file corrupt: records from this offset on are not read"
                );
            }
        }
        Ok(())
    }

    /// Takes the tag's values from one record's data.
    fn absorb(&mut self, data: &[u8], tag: &str, finder: &Finder<'_>) {
        // Most records hold other tags: a record without the tag's bytes cannot hold the tag,
        // and skipping the decode of those is what makes a large file quick to read.
        if finder.find(data).is_none() {
            return;
        }
        // A record that passed its checksum but does not decode is not an event of any writer
        // ckptd knows; it holds no metric.
        let Ok(event) = Event::decode(data) else {
            return;
        };
        let (Ok(step), Some(summary)) = (u64::try_from(event.step), event.summary) else {
            return;
        };
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
    }
}

#[cfg(test)]
impl FileState {
    /// Where the next read starts.
    pub fn offset(&self) -> u64 {
        self.offset
    }
}
