//! Reading the few keys ckptd needs from a JSON file that may be hundreds of MiB, without
//! holding it: HF's `trainer_state.json` keeps every log entry of the run, and parsing a 200 MB
//! one into a tree cost 2.7 GB. The document is streamed through `serde_json` with seeds that
//! keep `global_step`, `best_model_checkpoint`, the `log_history` entry with the wanted step
//! and metric, or a flat object's metric key, and skip everything else with `IgnoredAny`.
//! Memory stays at a few buffers and one string ([`MAX_STRING`](super::python_json::MAX_STRING))
//! whatever the size.
//!
//! The answers are those of the full parser ([`Found::from_document`], which the tests compare
//! against): the last occurrence of a duplicated key wins, as in a map. Python's bare `NaN`
//! and `Infinity` are read by [`PythonJson`]; a file that still does not parse strictly is
//! given to the full parser (strict `serde_json`, then JSON5, which needs the whole text) only
//! when it holds at most `fallback_within` bytes.

use std::fmt;
use std::fs::File;
use std::io::{self, BufReader, Read, Seek, SeekFrom};

use serde::de::{self, DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};

use super::json::{self, Json};
use super::named::Metrics;
use super::python_json::{number_of_sentinel, PythonJson};

/// What to look for besides `global_step` and `best_model_checkpoint`.
#[derive(Debug, Clone, Copy, Default)]
pub struct Wanted<'a> {
    /// The checkpoint's step, to pick its `log_history` entry.
    pub step: Option<u64>,
    /// The metric; `None` skips `log_history` altogether (layout files) unless `all`.
    pub metric: Option<&'a str>,
    /// Also every number at the step ([`Found::metrics`]).
    pub all: bool,
}

impl Wanted<'_> {
    fn reads_history(&self) -> bool {
        self.metric.is_some() || self.all
    }
}

/// The keys found.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Found {
    /// `global_step`, when a whole non-negative number.
    pub global_step: Option<u64>,
    /// `best_model_checkpoint`, when a string.
    pub best_model_checkpoint: Option<String>,
    /// The metric as [`checkpoint_json::value_for`](super::checkpoint_json::value_for) defines
    /// it: from `log_history` when that is an array, else the top-level key.
    pub metric: Option<f64>,
    /// With [`Wanted::all`]: every number of the `log_history` entries at the step (`step`
    /// itself aside), later entries winning; without a `log_history` array, every top-level
    /// number (Orbax's flat `metrics/metrics`).
    pub metrics: Metrics,
}

impl Found {
    /// The same answers from a parsed document: the full parser's view.
    pub fn from_document(doc: &Json, wanted: &Wanted<'_>) -> Self {
        Self {
            global_step: doc.get("global_step").and_then(Json::as_step),
            best_model_checkpoint: doc
                .get("best_model_checkpoint")
                .and_then(Json::as_text)
                .map(str::to_owned),
            metric: wanted
                .metric
                .and_then(|m| super::checkpoint_json::value_for(doc, wanted.step, m)),
            metrics: if wanted.all {
                super::checkpoint_json::metrics_for(doc, wanted.step)
            } else {
                Metrics::default()
            },
        }
    }
}

/// What reading a file gave.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    Found(Found),
    /// More than the limit was there to read (the file grew past it while read).
    OverLimit,
    /// Neither parser could read it; the strict parser's error.
    Unparsable(String),
}

/// Streams `file` (from its start) for `wanted`. With `limit`, reading stops after `limit`
/// bytes and the answer is `OverLimit` if there were more.
pub fn read_file(
    file: &File,
    wanted: &Wanted<'_>,
    limit: Option<u64>,
    fallback_within: u64,
) -> io::Result<Outcome> {
    let cap = limit.unwrap_or(u64::MAX);
    let mut from_start = file;
    from_start.seek(SeekFrom::Start(0))?;
    let mut limited = from_start.take(cap.saturating_add(1));
    let streamed = read(&mut limited, wanted);
    if limited.limit() == 0 {
        return Ok(Outcome::OverLimit);
    }
    let strict_error = match streamed {
        Ok(found) => return Ok(Outcome::Found(found)),
        Err(e) => e,
    };
    // An I/O error is not a parse error; the full parser would meet it too.
    if let Some(io) = strict_error.io_error() {
        return Err(io);
    }
    let size = file.metadata()?.len();
    if size > cap {
        return Ok(Outcome::OverLimit);
    }
    let within = fallback_within.min(cap);
    if size > within {
        return Ok(Outcome::Unparsable(strict_error.to_string()));
    }
    let mut text = String::new();
    let mut whole = file;
    whole.seek(SeekFrom::Start(0))?;
    match whole
        .take(within.saturating_add(1))
        .read_to_string(&mut text)
    {
        // Grew past what may be held while read.
        Ok(n) if n as u64 > cap => Ok(Outcome::OverLimit),
        Ok(n) if n as u64 > within => Ok(Outcome::Unparsable(strict_error.to_string())),
        Ok(_) => Ok(match json::parse::<Json>(&text) {
            Ok(doc) => Outcome::Found(Found::from_document(&doc, wanted)),
            Err(_) => Outcome::Unparsable(strict_error.to_string()),
        }),
        Err(e) if e.kind() == io::ErrorKind::InvalidData => {
            Ok(Outcome::Unparsable(strict_error.to_string()))
        }
        Err(e) => Err(e),
    }
}

/// An error of the streamed read, keeping an I/O error apart from a parse error.
#[derive(Debug)]
pub struct StreamError(serde_json::Error);

impl StreamError {
    fn io_error(&self) -> Option<io::Error> {
        // InvalidData is the filter refusing the content (a string too long), not the disk.
        match self.0.io_error_kind() {
            Some(kind) if kind != io::ErrorKind::InvalidData => {
                Some(io::Error::new(kind, self.0.to_string()))
            }
            _ => None,
        }
    }
}

impl fmt::Display for StreamError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// Streams one JSON document (as Python writes it) from `reader` for `wanted`.
pub fn read(reader: impl Read, wanted: &Wanted<'_>) -> Result<Found, StreamError> {
    let strict = BufReader::new(PythonJson::new(BufReader::with_capacity(64 << 10, reader)));
    let mut de = serde_json::Deserializer::from_reader(strict);
    let found = Document { wanted }
        .deserialize(&mut de)
        .map_err(StreamError)?;
    de.end().map_err(StreamError)?;
    Ok(found)
}

/// A value ckptd may read: a number (Python's NaN included), a string when asked for, or
/// something else (skipped without being held).
#[derive(Debug, Clone, PartialEq)]
enum Scalar {
    Number(f64),
    Text(String),
    Other,
}

impl Scalar {
    fn number(&self) -> Option<f64> {
        match self {
            Self::Number(n) => Some(*n),
            _ => None,
        }
    }
}

/// What a key is to ckptd; one key may be several things (a metric named `global_step`).
#[allow(clippy::struct_excessive_bools)] // independent flags, not a state
#[derive(Debug, Clone, Copy, Default)]
struct Roles {
    global_step: bool,
    best_model_checkpoint: bool,
    log_history: bool,
    metric: bool,
    step: bool,
}

impl Roles {
    fn any(self) -> bool {
        self.global_step
            || self.best_model_checkpoint
            || self.log_history
            || self.metric
            || self.step
    }
}

/// Classifies a key, keeping its name only when every number is wanted.
#[derive(Clone, Copy)]
struct Key<'a, 'w> {
    top_level: bool,
    wanted: &'a Wanted<'w>,
}

/// What a key is, and its name when its number is to be collected.
type Classified = (Roles, Option<String>);

impl<'de> DeserializeSeed<'de> for Key<'_, '_> {
    type Value = Classified;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Classified, D::Error> {
        d.deserialize_str(self)
    }
}

impl Visitor<'_> for Key<'_, '_> {
    type Value = Classified;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a key")
    }
    fn visit_str<E: de::Error>(self, key: &str) -> Result<Classified, E> {
        let metric = self.wanted.metric == Some(key);
        let roles = if self.top_level {
            Roles {
                global_step: key == "global_step",
                best_model_checkpoint: key == "best_model_checkpoint",
                // Without a metric, log_history is skipped unread.
                log_history: key == "log_history" && self.wanted.reads_history(),
                metric,
                step: false,
            }
        } else {
            Roles {
                step: key == "step",
                metric,
                ..Roles::default()
            }
        };
        // An entry's `step` is the step, not a metric of it.
        let collect = self.wanted.all && !(roles.step || roles.log_history);
        Ok((roles, collect.then(|| key.to_owned())))
    }
}

/// One value: a `Scalar`, and for `log_history`, what the wanted entries hold when the value
/// is an array.
struct Value<'a, 'w> {
    keep_text: bool,
    history: Option<&'a Wanted<'w>>,
}

/// What the entries of `log_history` at the wanted step hold.
#[derive(Default)]
struct History {
    /// The metric of the last entry at the step holding it.
    metric: Option<f64>,
    /// Every number of those entries, with [`Wanted::all`].
    metrics: Metrics,
}

type Seen = (Scalar, Option<History>);

impl<'de> DeserializeSeed<'de> for Value<'_, '_> {
    type Value = Seen;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Seen, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Value<'_, '_> {
    type Value = Seen;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON value")
    }
    fn visit_bool<E>(self, _: bool) -> Result<Seen, E> {
        Ok((Scalar::Other, None))
    }
    fn visit_unit<E>(self) -> Result<Seen, E> {
        Ok((Scalar::Other, None))
    }
    // Integers become f64 as the full parser's `Json::Number(f64)` makes them.
    #[allow(clippy::cast_precision_loss)]
    fn visit_u64<E>(self, n: u64) -> Result<Seen, E> {
        Ok((Scalar::Number(n as f64), None))
    }
    #[allow(clippy::cast_precision_loss)]
    fn visit_i64<E>(self, n: i64) -> Result<Seen, E> {
        Ok((Scalar::Number(n as f64), None))
    }
    fn visit_f64<E>(self, n: f64) -> Result<Seen, E> {
        Ok((Scalar::Number(n), None))
    }
    fn visit_str<E>(self, s: &str) -> Result<Seen, E> {
        let scalar = match number_of_sentinel(s) {
            Some(n) => Scalar::Number(n),
            None if self.keep_text => Scalar::Text(s.to_owned()),
            None => Scalar::Other,
        };
        Ok((scalar, None))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Seen, A::Error> {
        while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
        Ok((Scalar::Other, None))
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Seen, A::Error> {
        let Some(wanted) = self.history else {
            while seq.next_element::<IgnoredAny>()?.is_some() {}
            return Ok((Scalar::Other, None));
        };
        // The last entry at the step that holds the metric as a number.
        let mut found = History::default();
        while let Some(entry) = seq.next_element_seed(Entry { wanted })? {
            let Some(entry) = entry else { continue };
            if entry.metric.is_some() {
                found.metric = entry.metric;
            }
            found.metrics.extend(&entry.metrics);
        }
        Ok((Scalar::Other, Some(found)))
    }
}

/// One `log_history` entry: what it holds, if its step is the wanted one.
struct Entry<'a, 'w> {
    wanted: &'a Wanted<'w>,
}

impl<'de> DeserializeSeed<'de> for Entry<'_, '_> {
    type Value = Option<History>;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Option<History>, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Entry<'_, '_> {
    type Value = Option<History>;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a log entry")
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Option<History>, A::Error> {
        let key = Key {
            top_level: false,
            wanted: self.wanted,
        };
        let (mut step, mut metric) = (None, None);
        let mut metrics = Metrics::default();
        while let Some((roles, name)) = map.next_key_seed(key)? {
            if !roles.any() && name.is_none() {
                map.next_value::<IgnoredAny>()?;
                continue;
            }
            let (scalar, _) = map.next_value_seed(Value {
                keep_text: false,
                history: None,
            })?;
            if roles.step {
                step = scalar.number().and_then(json::step_of);
            }
            if roles.metric {
                metric = scalar.number();
            }
            match (name, scalar.number()) {
                (Some(name), Some(n)) => metrics.insert(&name, n),
                // A duplicated key's last value decides, as in a map (past 64 names, a
                // name dropped earlier does not come back: a bound, not the map's answer).
                (Some(name), None) => metrics.remove(&name),
                (None, _) => {}
            }
        }
        Ok((step.is_some() && step == self.wanted.step).then_some(History { metric, metrics }))
    }
    // Anything but an object is no entry.
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Option<History>, A::Error> {
        while seq.next_element::<IgnoredAny>()?.is_some() {}
        Ok(None)
    }
    fn visit_bool<E>(self, _: bool) -> Result<Option<History>, E> {
        Ok(None)
    }
    fn visit_unit<E>(self) -> Result<Option<History>, E> {
        Ok(None)
    }
    fn visit_u64<E>(self, _: u64) -> Result<Option<History>, E> {
        Ok(None)
    }
    fn visit_i64<E>(self, _: i64) -> Result<Option<History>, E> {
        Ok(None)
    }
    fn visit_f64<E>(self, _: f64) -> Result<Option<History>, E> {
        Ok(None)
    }
    fn visit_str<E>(self, _: &str) -> Result<Option<History>, E> {
        Ok(None)
    }
}

/// The whole document.
struct Document<'a, 'w> {
    wanted: &'a Wanted<'w>,
}

impl<'de> DeserializeSeed<'de> for Document<'_, '_> {
    type Value = Found;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Found, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Document<'_, '_> {
    type Value = Found;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON document")
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Found, A::Error> {
        let mut found = Found::default();
        // The last `log_history` decides, as in a map: an array gives its entry's metric
        // (`Some`), anything else sends the lookup to the flat key (`None`).
        let mut history: Option<History> = None;
        let mut flat = None;
        let mut flat_metrics = Metrics::default();
        let key = Key {
            top_level: true,
            wanted: self.wanted,
        };
        while let Some((roles, name)) = map.next_key_seed(key)? {
            if !roles.any() && name.is_none() {
                map.next_value::<IgnoredAny>()?;
                continue;
            }
            let (scalar, array) = map.next_value_seed(Value {
                keep_text: roles.best_model_checkpoint,
                history: roles.log_history.then_some(self.wanted),
            })?;
            if roles.global_step {
                found.global_step = scalar.number().and_then(json::step_of);
            }
            if roles.best_model_checkpoint {
                found.best_model_checkpoint = match &scalar {
                    Scalar::Text(s) => Some(s.clone()),
                    _ => None,
                };
            }
            if roles.log_history {
                history = array;
            }
            if roles.metric {
                flat = scalar.number();
            }
            match (name, scalar.number()) {
                (Some(name), Some(n)) => flat_metrics.insert(&name, n),
                (Some(name), None) => flat_metrics.remove(&name),
                (None, _) => {}
            }
        }
        (found.metric, found.metrics) = match history {
            Some(entries) => (entries.metric, entries.metrics),
            None => (flat, flat_metrics),
        };
        Ok(found)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Found, A::Error> {
        while seq.next_element::<IgnoredAny>()?.is_some() {}
        Ok(Found::default())
    }
    fn visit_bool<E>(self, _: bool) -> Result<Found, E> {
        Ok(Found::default())
    }
    fn visit_unit<E>(self) -> Result<Found, E> {
        Ok(Found::default())
    }
    fn visit_u64<E>(self, _: u64) -> Result<Found, E> {
        Ok(Found::default())
    }
    fn visit_i64<E>(self, _: i64) -> Result<Found, E> {
        Ok(Found::default())
    }
    fn visit_f64<E>(self, _: f64) -> Result<Found, E> {
        Ok(Found::default())
    }
    fn visit_str<E>(self, _: &str) -> Result<Found, E> {
        Ok(Found::default())
    }
}

#[cfg(test)]
mod tests;
