//! Reading a config file into its raw shape while collecting **every** mistake, not the
//! first: serde stops at the first unknown key or wrong type, so a file with seven mistakes
//! showed one, then six more after it was fixed.
//!
//! The file is parsed once into spanned TOML (syntax errors, all of them, end it there). Then
//! the raw shape is deserialised from it; each error is recorded with its position and a hint
//! (`keep_lats` → did you mean `keep_last`; `[watch]` → `[[watch]]`; `settle = 300` →
//! `"300s"`; `runs = "x"` → `["x"]`), the key it points at is taken out, and deserialising
//! starts again, until it succeeds. What is left is validated as usual, so its mistakes are
//! reported beside these.

use serde::Deserialize;
use toml::de::{DeTable, DeValue, Deserializer};
use toml::Spanned;

use super::error::{ConfigError, Locator};

/// Keys whose value is a duration written as a string with a unit.
const DURATION_KEYS: [&str; 7] = [
    "settle",
    "hook_timeout",
    "poll_interval",
    "stale_after",
    "metric_timeout",
    "keep_within",
    "rescan_interval",
];

/// At most this many mistakes are collected (each costs one more deserialisation).
const MAX_ERRORS: usize = 64;

/// What reading gave: the raw shape with every mistaken key taken out (`None` only when the
/// TOML itself does not parse, or a mistake could not be placed), the mistakes, and the keys
/// taken out (with the key meant, for a misspelt one) and where, so that what validation
/// then says about their absence ("missing `runs`") is not said too.
pub(super) struct Read<T> {
    pub raw: Option<T>,
    pub errors: Vec<ConfigError>,
    pub taken_out: Vec<(Vec<String>, usize)>,
}

pub(super) fn read<'i, T: Deserialize<'i>>(text: &'i str, locator: &Locator<'_>) -> Read<T> {
    let (mut table, syntax) = DeTable::parse_recoverable(text);
    let mut read = Read {
        raw: None,
        errors: Vec::new(),
        taken_out: Vec::new(),
    };
    if !syntax.is_empty() {
        read.errors = syntax
            .iter()
            .map(|e| locator.error(e.span().unwrap_or(0..0), plain(e.message())))
            .collect();
        return read;
    }
    loop {
        match T::deserialize(Deserializer::from(table.clone())) {
            Ok(raw) => {
                read.raw = Some(raw);
                return read;
            }
            Err(e) => {
                let span = e.span().unwrap_or(0..0);
                let key = take_out(table.get_mut(), span.start);
                let (message, meant) = hinted(e.message(), key.as_deref());
                read.errors.push(locator.error(span.clone(), message));
                let Some(key) = key else {
                    return read;
                };
                read.taken_out
                    .push((std::iter::once(key).chain(meant).collect(), span.start));
                if read.errors.len() >= MAX_ERRORS {
                    return read;
                }
            }
        }
    }
}

/// Serde names Rust types; users wrote TOML.
pub(super) fn plain(message: &str) -> String {
    message
        .trim()
        .replace("i64", "a whole number")
        .replace(
            "data did not match any variant of untagged enum RawSize",
            "expected a size such as \"32MiB\" or a whole number of bytes",
        )
        .replace(
            "struct RawEveryWindow",
            "a table such as { window = \"1d\", count = 7 }",
        )
        .replace("invalid type: map,", "invalid type: table,")
}

/// The message for an error at the key `key` (its name, when one was found), and for a
/// misspelt key, the one meant.
fn hinted(message: &str, key: Option<&str>) -> (String, Option<String>) {
    let message = plain(message);
    if let Some(rest) = message.strip_prefix("unknown field `") {
        let unknown = &rest[..rest.find('`').unwrap_or(rest.len())];
        let expected: Vec<&str> = rest.split('`').skip(2).step_by(2).collect();
        return match crate::suggest::closest(unknown, expected.iter().copied()) {
            Some(meant) => (
                format!("unknown key `{unknown}`: did you mean `{meant}`?"),
                Some(meant.to_owned()),
            ),
            None => (
                format!(
                    "unknown key `{unknown}`; expected one of: {}",
                    expected.join(", ")
                ),
                None,
            ),
        };
    }
    let message = match key {
        Some("watch") if message.contains("expected a sequence") => {
            "`[watch]` is one table; each watch is a `[[watch]]` (double brackets), one per watch"
                .to_owned()
        }
        Some("filesystem") if message.contains("expected a sequence") => {
            "`[filesystem]` is one table; each filesystem is a `[[filesystem]]` (double \
             brackets), one per filesystem"
                .to_owned()
        }
        Some("runs") if message.contains("invalid type: string") => {
            let value = message.split('"').nth(1).unwrap_or("/data/runs/*");
            format!("`runs` is a list of globs: write runs = [\"{value}\"]")
        }
        Some(k @ ("on_complete" | "before_delete")) if message.contains("invalid type: string") => {
            let value = message.split('"').nth(1).unwrap_or("/usr/local/bin/notify");
            let argv: Vec<String> = value
                .split_whitespace()
                .map(|a| format!("\"{a}\""))
                .collect();
            format!(
                "`{k}` is a command as an array, program first, run without a shell: write {k} = [{}]",
                argv.join(", ")
            )
        }
        Some(k) if DURATION_KEYS.contains(&k) && message.contains("invalid type: integer") => {
            let number: String = message
                .split('`')
                .nth(1)
                .unwrap_or("30")
                .chars()
                .filter(char::is_ascii_digit)
                .collect();
            format!("`{k}` is a duration with its unit, as a string: write {k} = \"{number}s\"")
        }
        _ => message,
    };
    (message, None)
}

/// Whether a validation `error` only says that a key taken out is absent: the same table
/// (between the table headers around the key) and a message naming the key, or "keeps
/// nothing" when a `keep_*` rule was taken out.
pub(super) fn consequence(
    text: &str,
    taken_out: &[(Vec<String>, usize)],
    error: &ConfigError,
) -> bool {
    let line_of = |offset: usize| text[..offset.min(text.len())].matches('\n').count() + 1;
    let headers: Vec<usize> = text
        .lines()
        .enumerate()
        .filter(|(_, l)| l.trim_start().starts_with('['))
        .map(|(i, _)| i + 1)
        .collect();
    taken_out.iter().any(|(names, offset)| {
        let line = line_of(*offset);
        let start = headers
            .iter()
            .rev()
            .find(|&&h| h <= line)
            .copied()
            .unwrap_or(1);
        let end = headers
            .iter()
            .find(|&&h| h > line)
            .copied()
            .unwrap_or(usize::MAX);
        let inside = (start..end).contains(&error.line);
        inside
            && names.iter().any(|name| {
                error.message.contains(&format!("`{name}`"))
                    || (name.starts_with("keep_")
                        && error.message.starts_with("this watch keeps nothing"))
            })
    })
}

/// Takes out of `table` the entry the error at byte `at` is about: the innermost key whose
/// name or value holds `at`, looked for in the whole tree (a `[table]`'s span is only its
/// header, so containment cannot guide the search). Returns that key's name, or `None` if no
/// entry holds `at`.
fn take_out(table: &mut DeTable<'_>, at: usize) -> Option<String> {
    for (_, value) in table.iter_mut() {
        if let Some(inner) = take_out_of_value(value, at) {
            return Some(inner);
        }
    }
    let found = table
        .iter()
        .find(|(k, v)| k.span().contains(&at) || v.span().contains(&at) || v.span().start == at)
        .map(|(k, _)| k.clone())?;
    table.remove(&found);
    Some(found.get_ref().to_string())
}

/// Looks for the entry inside a table, or inside the tables of an array.
fn take_out_of_value(value: &mut Spanned<DeValue<'_>>, at: usize) -> Option<String> {
    match value.get_mut() {
        DeValue::Table(inner) => take_out(inner, at),
        DeValue::Array(items) => items.iter_mut().find_map(|item| match item.get_mut() {
            DeValue::Table(inner) => take_out(inner, at),
            _ => None,
        }),
        _ => None,
    }
}
