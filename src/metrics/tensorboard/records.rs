//! The TFRecord framing of TensorBoard event files: each record is a little-endian `u64` data
//! length, the masked CRC-32C of those 8 bytes, the data, and the masked CRC-32C of the data.
//!
//! Writers append whole records but flush when they like, so a reader can find the last record
//! cut short: that is not an error, the rest will come (`Stop::Partial`). A checksum that does
//! not match is corruption (`Stop::Corrupt`): nothing after it can be trusted to be framed right.
//!
//! A record longer than the caller's limit (`max_metric_bytes`) is never read into memory: once
//! the file holds all of it, the first bytes of its data are handed over (where an event keeps
//! its wall time and step) and the rest is skipped by seeking. Its data checksum cannot be
//! checked without reading it; its length checksum is.

use std::io::{self, Read, Seek, SeekFrom};

use memchr::memmem::Finder;

const HEADER: usize = 12;
const FOOTER: usize = 4;
/// Larger than any record a writer produces (graph defs are tens of MB); a length past this
/// is treated as corruption rather than allocated.
const MAX_DATA: u64 = 1 << 30;
/// The read size: large enough that `read` calls cost little next to copying the bytes.
const CHUNK: usize = 4 << 20;

/// The checksum TFRecord stores: CRC-32C, rotated and offset so that a CRC of data that itself
/// holds CRCs does not look valid.
pub fn masked_crc(data: &[u8]) -> u32 {
    crc32c::crc32c(data)
        .rotate_right(15)
        .wrapping_add(0xa282_ead8)
}

/// Appends `data` framed as one record to `out` (what a writer does).
pub fn encode(data: &[u8], out: &mut Vec<u8>) {
    let len = (data.len() as u64).to_le_bytes();
    out.extend_from_slice(&len);
    out.extend_from_slice(&masked_crc(&len).to_le_bytes());
    out.extend_from_slice(data);
    out.extend_from_slice(&masked_crc(data).to_le_bytes());
}

/// Why reading stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stop {
    /// The file ends on a record boundary.
    End,
    /// The file ends inside a record: the writer has not flushed all of it yet.
    Partial,
    /// The record at `offset` fails its checksum.
    Corrupt { offset: u64, what: &'static str },
}

/// How far a scan got: `end` is the offset of the first record not read (where to resume).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Scan {
    pub end: u64,
    pub stop: Stop,
}

/// How many bytes of a skipped record's data are handed over: enough for an event's wall time
/// and step, which writers put first.
pub const SKIPPED_PREFIX: usize = 32;

/// One whole record whose framing (length and its checksum) is sound. Its data's own
/// checksum is checked only by a reader that uses the data ([`Record::data`]): a corrupt
/// record ckptd does not use changes no decision (DESIGN), and most records of a large file
/// hold other tags.
#[derive(Debug, Clone, Copy)]
pub struct Record<'a> {
    bytes: &'a [u8],
    crc: u32,
    /// Whether the bytes looked for (see [`scan`]) are inside the data.
    holds_wanted: bool,
}

impl<'a> Record<'a> {
    /// Whether the data holds the bytes the scan looks for (always, when it looks for none):
    /// found by one search over the whole buffer, not one per record.
    pub fn holds_wanted(&self) -> bool {
        self.holds_wanted
    }

    /// The data, without checking its checksum: only to decide whether it is wanted.
    pub fn unchecked(&self) -> &'a [u8] {
        self.bytes
    }

    /// The data, once its checksum matches.
    pub fn data(&self) -> Result<&'a [u8], &'static str> {
        if masked_crc(self.bytes) == self.crc {
            Ok(self.bytes)
        } else {
            Err("data checksum mismatch")
        }
    }
}

/// A record longer than the limit, skipped unread.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Skipped<'a> {
    /// Where the record starts.
    pub offset: u64,
    /// The length of its data.
    pub len: u64,
    /// The first bytes of its data (at most [`SKIPPED_PREFIX`]).
    pub prefix: &'a [u8],
}

/// The first record in `buf`, or how many bytes it needs, or why it is corrupt.
enum Next<'a> {
    Record {
        record: Record<'a>,
        size: usize,
    },
    /// A record whose data is longer than the limit.
    TooLong {
        len: u64,
    },
    NeedMore(usize),
    Corrupt(&'static str),
}

/// The masked CRCs of recently seen lengths. Records of one kind (a scalar of one tag) have the
/// same few lengths, and a CRC of 8 unaligned bytes costs about as much as one of the record's
/// data, so remembering them takes a third off reading a file of small records.
struct LengthCrcs([(u64, u32); 64]);

impl LengthCrcs {
    fn new() -> Self {
        // Slot `i` starts with a length that maps to it, so every entry is valid.
        Self(std::array::from_fn(|i| {
            let len = i as u64;
            (len, masked_crc(&len.to_le_bytes()))
        }))
    }

    fn get(&mut self, len: u64) -> u32 {
        let slot = &mut self.0[(len % 64) as usize];
        if slot.0 != len {
            *slot = (len, masked_crc(&len.to_le_bytes()));
        }
        slot.1
    }
}

fn next<'a>(buf: &'a [u8], crcs: &mut LengthCrcs, max_data: u64) -> Next<'a> {
    if buf.len() < HEADER {
        return Next::NeedMore(HEADER);
    }
    // Checksums are compared as integers: this runs once per record, millions of times for a
    // large file.
    let len_bytes = &buf[..8];
    let len = u64::from_le_bytes(len_bytes.try_into().expect("8 bytes"));
    if crcs.get(len) != le_u32(&buf[8..HEADER]) {
        return Next::Corrupt("length checksum mismatch");
    }
    if len > MAX_DATA {
        return Next::Corrupt("record length over 1 GiB");
    }
    if len > max_data {
        return Next::TooLong { len };
    }
    let len = usize::try_from(len).expect("at most 1 GiB");
    let size = HEADER + len + FOOTER;
    if buf.len() < size {
        return Next::NeedMore(size);
    }
    let record = Record {
        bytes: &buf[HEADER..HEADER + len],
        crc: le_u32(&buf[HEADER + len..size]),
        holds_wanted: true,
    };
    Next::Record { record, size }
}

fn le_u32(bytes: &[u8]) -> u32 {
    u32::from_le_bytes(bytes.try_into().expect("4 bytes"))
}

/// Where a scan reads: positioned at file offset `start` of a file `len` bytes long.
pub struct Source<'r, R> {
    pub reader: &'r mut R,
    pub start: u64,
    pub len: u64,
}

/// Where the bytes looked for are next in the buffer: the search runs over the buffer once,
/// ahead of the records, rather than once inside each record (a file of small records has
/// millions of them).
struct Hits<'f> {
    finder: Option<&'f Finder<'f>>,
    /// Buffer index of the next occurrence at or after `from`, `usize::MAX` for none up to
    /// the end of what was searched.
    next: usize,
    from: usize,
}

impl Hits<'_> {
    /// Whether `buf[start..end]` holds the bytes; `valid` is how much of `buf` holds data.
    fn inside(&mut self, buf: &[u8], valid: usize, start: usize, end: usize) -> bool {
        let Some(finder) = self.finder else {
            return true;
        };
        if self.next < start || self.from > start {
            self.from = start;
            self.next = finder
                .find(&buf[start..valid])
                .map_or(usize::MAX, |i| start + i);
        }
        self.next
            .checked_add(finder.needle().len())
            .is_some_and(|hit_end| hit_end <= end)
    }

    /// The buffer moved to the front and may grow: search again.
    fn reset(&mut self) {
        self.next = 0;
        self.from = usize::MAX;
    }
}

/// Reads records from `source` to the end of the file, handing each record to `on_record`; a
/// record whose data is longer than `max_data` goes to `on_skipped` instead. `on_record`
/// returns the corruption it found in a record it used (its data checksum): the scan stops
/// there, as at a corrupt frame. With `wanted`, each record says whether its data holds those
/// bytes ([`Record::holds_wanted`]).
pub fn scan<R: Read + Seek>(
    source: Source<'_, R>,
    max_data: u64,
    wanted: Option<&Finder<'_>>,
    mut on_record: impl FnMut(Record<'_>) -> Result<(), &'static str>,
    mut on_skipped: impl FnMut(Skipped<'_>),
) -> io::Result<Scan> {
    let Source {
        reader,
        start,
        len: file_len,
    } = source;
    let mut buf = vec![0u8; CHUNK];
    let (mut pos, mut filled, mut offset) = (0usize, 0usize, start);
    let mut eof = false;
    let mut crcs = LengthCrcs::new();
    let mut hits = Hits {
        finder: wanted,
        next: 0,
        from: usize::MAX,
    };
    loop {
        let needed = loop {
            match next(&buf[pos..filled], &mut crcs, max_data) {
                Next::Record { mut record, size } => {
                    record.holds_wanted =
                        hits.inside(&buf, filled, pos + HEADER, pos + size - FOOTER);
                    if let Err(what) = on_record(record) {
                        return Ok(Scan {
                            end: offset,
                            stop: Stop::Corrupt { offset, what },
                        });
                    }
                    pos += size;
                    offset += size as u64;
                }
                Next::TooLong { len } => {
                    let size = HEADER as u64 + len + FOOTER as u64;
                    // Whole only once the file holds all of it; until then, as any cut record.
                    if offset + size > file_len {
                        break usize::MAX;
                    }
                    let available = (filled - pos).min(HEADER + SKIPPED_PREFIX);
                    let wanted = (HEADER + SKIPPED_PREFIX)
                        .min(HEADER + usize::try_from(len).unwrap_or(usize::MAX));
                    if available < wanted && !eof {
                        break wanted;
                    }
                    let prefix = (available - HEADER).min(wanted - HEADER);
                    on_skipped(Skipped {
                        offset,
                        len,
                        prefix: &buf[pos + HEADER..pos + HEADER + prefix],
                    });
                    let in_buffer = (filled - pos) as u64;
                    if size <= in_buffer {
                        pos += usize::try_from(size).expect("within the buffer");
                    } else {
                        // Past the rest of it without reading it.
                        let skip = i64::try_from(size - in_buffer).expect("at most 1 GiB");
                        reader.seek(SeekFrom::Current(skip))?;
                        (pos, filled) = (0, 0);
                        eof = false;
                    }
                    offset += size;
                }
                Next::NeedMore(needed) => break needed,
                Next::Corrupt(what) => {
                    return Ok(Scan {
                        end: offset,
                        stop: Stop::Corrupt { offset, what },
                    })
                }
            }
        };
        if eof || needed == usize::MAX {
            let stop = if pos == filled {
                Stop::End
            } else {
                Stop::Partial
            };
            return Ok(Scan { end: offset, stop });
        }
        // Keep the unfinished record at the front. Room for all of it is made only as its
        // bytes arrive (doubling): a crafted length in a tiny file must not allocate a GiB.
        buf.copy_within(pos..filled, 0);
        hits.reset();
        filled -= pos;
        pos = 0;
        if needed > buf.len() && filled == buf.len() {
            buf.resize(needed.min(buf.len() * 2), 0);
        }
        let n = read_some(reader, &mut buf[filled..])?;
        filled += n;
        eof = n == 0;
    }
}

fn read_some(reader: &mut impl Read, buf: &mut [u8]) -> io::Result<usize> {
    loop {
        match reader.read(buf) {
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            other => return other,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn framed(records: &[&[u8]]) -> Vec<u8> {
        let mut out = Vec::new();
        for r in records {
            encode(r, &mut out);
        }
        out
    }

    #[test]
    fn each_record_says_whether_it_holds_the_wanted_bytes_from_one_search() {
        let records: [&[u8]; 5] = [b"aTAGb", b"zzzz", b"TAG", b"xTA", b"GTAGTAG"];
        let bytes = framed(&records);
        let finder = Finder::new(b"TAG");
        let mut holds = Vec::new();
        // A small first buffer would not do: CHUNK holds them all; the search still runs once
        // per buffer, and the answer must be per record.
        let scan = scan(
            Source {
                reader: &mut io::Cursor::new(&bytes),
                start: 0,
                len: bytes.len() as u64,
            },
            MAX_DATA,
            Some(&finder),
            |r| {
                holds.push((r.data().unwrap().to_vec(), r.holds_wanted()));
                Ok(())
            },
            |_| panic!("none skipped"),
        )
        .unwrap();
        assert_eq!(scan.stop, Stop::End);
        let got: Vec<bool> = holds.iter().map(|(_, h)| *h).collect();
        assert_eq!(got, [true, false, true, false, true]);
    }

    fn read_all(bytes: &[u8], start: u64) -> (Vec<Vec<u8>>, Scan) {
        let (got, skipped, scan) = read_limited(bytes, start, MAX_DATA);
        assert!(skipped.is_empty());
        (got, scan)
    }

    /// Records read, records skipped (offset, length, prefix), and the scan's end.
    #[allow(clippy::type_complexity)]
    fn read_limited(
        bytes: &[u8],
        start: u64,
        max_data: u64,
    ) -> (Vec<Vec<u8>>, Vec<(u64, u64, Vec<u8>)>, Scan) {
        let (mut got, mut skipped) = (Vec::new(), Vec::new());
        let source = Source {
            reader: &mut io::Cursor::new(bytes),
            start,
            len: start + bytes.len() as u64,
        };
        let scan = scan(
            source,
            max_data,
            None,
            |r| r.data().map(|d| got.push(d.to_vec())),
            |s| skipped.push((s.offset, s.len, s.prefix.to_vec())),
        )
        .unwrap();
        (got, skipped, scan)
    }

    #[test]
    #[allow(clippy::manual_rotate)] // spelled as TensorFlow's crc32c::Mask spells it
    fn the_crc_is_castagnoli_and_the_mask_rotates_then_offsets() {
        // The CRC-32C check value; real writer output is checked against fixtures in `super`.
        assert_eq!(crc32c::crc32c(b"123456789"), 0xe306_9283);
        let crc = crc32c::crc32c(b"foo");
        assert_eq!(
            masked_crc(b"foo"),
            ((crc >> 15) | (crc << 17)).wrapping_add(0xa282_ead8)
        );
    }

    #[test]
    fn whole_records_are_read_and_the_end_is_clean() {
        let bytes = framed(&[b"a", b"", b"hello"]);
        let (got, scan) = read_all(&bytes, 0);
        assert_eq!(got, [b"a".to_vec(), vec![], b"hello".to_vec()]);
        assert_eq!(
            scan,
            Scan {
                end: bytes.len() as u64,
                stop: Stop::End
            }
        );
    }

    #[test]
    fn a_record_cut_anywhere_is_partial_and_resumes_at_its_start() {
        let bytes = framed(&[b"first", b"second record"]);
        let second = HEADER + 5 + FOOTER;
        for cut in second + 1..bytes.len() {
            let (got, scan) = read_all(&bytes[..cut], 0);
            assert_eq!(got, [b"first".to_vec()], "cut at {cut}");
            assert_eq!(
                scan,
                Scan {
                    end: second as u64,
                    stop: Stop::Partial
                }
            );
            // Resuming from `end` with the rest of the file gives the second record.
            let (rest, scan) = read_all(&bytes[second..], scan.end);
            assert_eq!(rest, [b"second record".to_vec()]);
            assert_eq!(scan.end, bytes.len() as u64);
        }
    }

    #[test]
    fn a_flipped_byte_stops_at_the_record_that_holds_it() {
        let bytes = framed(&[b"ok", b"bad data", b"never read"]);
        let second = HEADER + 2 + FOOTER;
        let mut data_flip = bytes.clone();
        data_flip[second + HEADER + 1] ^= 1;
        let (got, scan) = read_all(&data_flip, 100);
        assert_eq!(got, [b"ok".to_vec()]);
        let at = 100 + second as u64;
        assert_eq!(
            scan,
            Scan {
                end: at,
                stop: Stop::Corrupt {
                    offset: at,
                    what: "data checksum mismatch"
                }
            }
        );
        let mut len_flip = bytes;
        len_flip[second] ^= 1;
        let (_, scan) = read_all(&len_flip, 0);
        assert!(matches!(
            scan.stop,
            Stop::Corrupt {
                what: "length checksum mismatch",
                ..
            }
        ));
    }

    #[test]
    fn remembered_length_checksums_are_still_checked() {
        // Lengths 3 and 67 share a cache slot; the third record's length checksum is wrong.
        let (a, b) = (vec![1u8; 3], vec![2u8; 67]);
        let mut bytes = framed(&[&a, &b, &a, &b]);
        let third = 2 * HEADER + 3 + 67 + 2 * FOOTER;
        let (got, scan) = read_all(&bytes, 0);
        assert_eq!(got, [a.clone(), b.clone(), a, b]);
        assert_eq!(scan.stop, Stop::End);
        bytes[third + 8] ^= 1;
        let (got, scan) = read_all(&bytes, 0);
        assert_eq!(got.len(), 2);
        assert_eq!(
            scan.stop,
            Stop::Corrupt {
                offset: third as u64,
                what: "length checksum mismatch"
            }
        );
    }

    #[test]
    fn records_larger_than_the_read_size_are_read_whole() {
        let big = vec![7u8; CHUNK * 2 + 3];
        let bytes = framed(&[b"x", &big, b"y"]);
        let (got, scan) = read_all(&bytes, 0);
        assert_eq!(got.len(), 3);
        assert_eq!(got[1], big);
        assert_eq!(scan.stop, Stop::End);
    }

    /// A reader that remembers the largest buffer it was handed and how much it was read.
    struct Watched<'a> {
        bytes: io::Cursor<&'a [u8]>,
        largest: usize,
        read: usize,
    }

    impl Read for Watched<'_> {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            self.largest = self.largest.max(buf.len());
            let n = self.bytes.read(buf)?;
            self.read += n;
            Ok(n)
        }
    }

    impl Seek for Watched<'_> {
        fn seek(&mut self, to: SeekFrom) -> io::Result<u64> {
            self.bytes.seek(to)
        }
    }

    fn watched(bytes: &[u8]) -> Watched<'_> {
        Watched {
            bytes: io::Cursor::new(bytes),
            largest: 0,
            read: 0,
        }
    }

    #[test]
    fn a_crafted_length_in_a_tiny_file_allocates_nothing_like_it() {
        // 115 bytes that claim a record of almost 1 GiB, with a valid length checksum.
        let len = (1u64 << 30) - 1;
        let mut bytes = len.to_le_bytes().to_vec();
        bytes.extend_from_slice(&masked_crc(&len.to_le_bytes()).to_le_bytes());
        bytes.resize(115, 7);

        let mut reader = watched(&bytes);
        let source = Source {
            reader: &mut reader,
            start: 0,
            len: 115,
        };
        let result = scan(
            source,
            MAX_DATA,
            None,
            |_| panic!("no record"),
            |_| panic!("none"),
        )
        .unwrap();
        assert_eq!(result.stop, Stop::Partial);
        assert!(
            reader.largest <= 2 * CHUNK,
            "asked for {} bytes",
            reader.largest
        );
    }

    #[test]
    fn a_record_larger_than_the_first_buffer_is_still_read_whole() {
        let big = vec![9u8; 3 * CHUNK + 17];
        let (got, scan) = read_all(&framed(&[b"a", &big, b"z"]), 0);
        assert_eq!(got, [b"a".to_vec(), big, b"z".to_vec()]);
        assert_eq!(scan.stop, Stop::End);
    }

    #[test]
    fn a_record_longer_than_the_limit_is_skipped_unread_and_the_next_one_is_read() {
        let huge = vec![5u8; 3 * CHUNK];
        let bytes = framed(&[b"before", &huge, b"after"]);
        let mut reader = watched(&bytes);
        let (mut got, mut skipped) = (Vec::new(), Vec::new());
        let source = Source {
            reader: &mut reader,
            start: 0,
            len: bytes.len() as u64,
        };
        let result = scan(
            source,
            1 << 20,
            None,
            |r| r.data().map(|d| got.push(d.to_vec())),
            |s| skipped.push((s.offset, s.len, s.prefix.to_vec())),
        )
        .unwrap();
        assert_eq!(got, [b"before".to_vec(), b"after".to_vec()]);
        let at = (HEADER + 6 + FOOTER) as u64;
        assert_eq!(
            skipped,
            [(at, huge.len() as u64, vec![5u8; SKIPPED_PREFIX])]
        );
        assert_eq!(
            result,
            Scan {
                end: bytes.len() as u64,
                stop: Stop::End
            }
        );
        // Neither held nor read: the first chunk only, then a seek over the rest.
        assert!(
            reader.largest <= CHUNK,
            "asked for {} bytes",
            reader.largest
        );
        assert!(reader.read <= 2 * CHUNK, "read {} bytes", reader.read);
    }

    #[test]
    fn a_long_record_not_yet_whole_waits_like_any_cut_record() {
        let bytes = framed(&[b"first", &[1u8; 100], b"last"]);
        let second = HEADER + 5 + FOOTER;
        for cut in second + 1..second + HEADER + 100 + FOOTER {
            let (got, skipped, scan) = read_limited(&bytes[..cut], 0, 10);
            assert_eq!(got, [b"first".to_vec()], "cut at {cut}");
            assert!(skipped.is_empty(), "cut at {cut}");
            assert_eq!(
                scan,
                Scan {
                    end: second as u64,
                    stop: Stop::Partial
                }
            );
        }
        // Whole: skipped, with its first bytes; a short record within the buffer too.
        let (got, skipped, scan) = read_limited(&bytes, 7, 10);
        assert_eq!(got, [b"first".to_vec(), b"last".to_vec()]);
        assert_eq!(
            skipped,
            [(7 + second as u64, 100, vec![1u8; SKIPPED_PREFIX])]
        );
        assert_eq!(scan.stop, Stop::End);
        let short = framed(&[&[2u8; 12], b"x"]);
        let (got, skipped, _) = read_limited(&short, 0, 11);
        assert_eq!(got, [b"x".to_vec()]);
        assert_eq!(skipped, [(0, 12, vec![2u8; 12])]);
    }
}
