//! JSON as Python writes it: `json.dump` emits bare `NaN` and `Infinity`, which strict parsers
//! refuse. Strict `serde_json` is tried first (fast); JSON5, a superset that accepts them, only
//! when it fails.

use std::collections::BTreeMap;

use serde::de::{DeserializeOwned, IgnoredAny};
use serde::Deserialize;

/// Parses `text`, accepting Python's non-standard numbers.
pub fn parse<T: DeserializeOwned>(text: &str) -> Result<T, String> {
    serde_json::from_str(text)
        .or_else(|strict| json5::from_str(text).map_err(|_| strict.to_string()))
}

/// The parts of a JSON document ckptd reads. Unlike `serde_json::Value` it keeps NaN as a
/// number, which must rank worst rather than vanish.
#[derive(Debug, Deserialize, Clone)]
#[serde(untagged)]
pub enum Json {
    Number(f64),
    Text(String),
    Object(BTreeMap<String, Json>),
    Array(Vec<Json>),
    Other(IgnoredAny),
}

impl Json {
    pub fn get(&self, key: &str) -> Option<&Json> {
        match self {
            Self::Object(map) => map.get(key),
            _ => None,
        }
    }

    pub fn as_number(&self) -> Option<f64> {
        match self {
            Self::Number(n) => Some(*n),
            _ => None,
        }
    }

    pub fn as_text(&self) -> Option<&str> {
        match self {
            Self::Text(s) => Some(s),
            _ => None,
        }
    }

    /// A whole, non-negative number such as a step (`500` or `500.0`).
    pub fn as_step(&self) -> Option<u64> {
        step_of(self.as_number()?)
    }
}

/// `n` as a step: whole and non-negative (`500` or `500.0`).
pub fn step_of(n: f64) -> Option<u64> {
    #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
    (n >= 0.0 && n.fract() == 0.0 && n < 1.8e19).then_some(n as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn python_nan_and_infinity_parse_as_numbers() {
        let doc: Json =
            parse(r#"{"a": NaN, "b": Infinity, "c": -Infinity, "d": [1, "x", null]}"#).unwrap();
        assert!(doc.get("a").unwrap().as_number().unwrap().is_nan());
        assert_eq!(doc.get("b").unwrap().as_number(), Some(f64::INFINITY));
        assert_eq!(doc.get("c").unwrap().as_number(), Some(f64::NEG_INFINITY));
    }

    #[test]
    fn truncated_json_is_an_error_not_a_value() {
        assert!(parse::<Json>(r#"{"global_step": 5, "log_hist"#).is_err());
    }

    #[test]
    fn steps_must_be_whole() {
        let doc: Json = parse(r#"{"a": 5, "b": 5.0, "c": 5.5, "d": -1}"#).unwrap();
        assert_eq!(doc.get("a").unwrap().as_step(), Some(5));
        assert_eq!(doc.get("b").unwrap().as_step(), Some(5));
        assert_eq!(doc.get("c").unwrap().as_step(), None);
        assert_eq!(doc.get("d").unwrap().as_step(), None);
    }

    #[test]
    fn floats_read_back_exactly() {
        // Orbax's metrics file: 1.4546689987182617 read back 1 ULP off without serde_json's
        // float_roundtrip.
        let doc: Json = parse(r#"{"loss": 1.4546689987182617}"#).unwrap();
        assert_eq!(
            doc.get("loss").and_then(Json::as_number),
            Some(1.454_668_998_718_261_7)
        );
    }
}
