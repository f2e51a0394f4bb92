//! Config tests of `keep_every` in both forms: a duration, or a list of `{ window, count }`
//! tables; every refusal located.

use std::num::NonZeroU64;
use std::path::Path;
use std::time::Duration;

use super::overrides;
use super::tests::{assert_one_error, base_watch, parse};
use crate::policy::EveryWindow;

const KEEP_LAST: &str =
    "[[watch]]\nname = \"a\"\nruns = [\"/r\"]\nlayout = \"huggingface\"\nkeep_last = 1\n";

fn keep_every_of(value: &str) -> Vec<EveryWindow> {
    parse(&format!("{KEEP_LAST}keep_every = {value}\n"))
        .unwrap()
        .watches
        .swap_remove(0)
        .policy
        .keep_every
}

fn window(days: u64, count: Option<u64>) -> EveryWindow {
    EveryWindow {
        window: Duration::from_secs(days * 86_400),
        count: count.and_then(NonZeroU64::new),
    }
}

#[test]
fn keep_every_takes_a_duration_or_a_list_of_counted_windows() {
    assert_eq!(keep_every_of("\"1d\""), [window(1, None)]);
    assert_eq!(
        keep_every_of(r#"[{ window = "1d", count = 7 }, { window = "7d", count = 4 }]"#),
        [window(1, Some(7)), window(7, Some(4))]
    );
    // Across lines, and without a count: every window, as the string form.
    assert_eq!(
        keep_every_of("[\n  { window = \"1d\", count = 7 },\n  { window = \"30d\" },\n]"),
        [window(1, Some(7)), window(30, None)]
    );
    // A list alone is a policy.
    let config = parse(
        "[[watch]]\nname = \"a\"\nruns = [\"/r\"]\nlayout = \"huggingface\"\nkeep_every = [{ window = \"7d\", count = 4 }]\n",
    )
    .unwrap();
    assert_eq!(config.watches[0].policy.keep_every, [window(7, Some(4))]);
    // Inherited from [defaults] as a whole.
    let config = parse(&format!(
        "[defaults]\nkeep_every = [{{ window = \"1d\", count = 3 }}]\n{KEEP_LAST}"
    ))
    .unwrap();
    assert_eq!(config.watches[0].policy.keep_every, [window(1, Some(3))]);
}

#[test]
fn keep_every_lists_are_refused_where_they_go_wrong() {
    let at = |value: &str, location: &str, says: &str| {
        assert_one_error(
            &format!("{KEEP_LAST}keep_every = {value}\n"),
            location,
            says,
        );
    };
    at("[]", "6:14:", "`keep_every` is an empty list");
    at(
        r#"[{ window = "0s", count = 7 }]"#,
        "6:26:",
        "`window` must be longer than zero",
    );
    at(
        r#"[{ window = "1d", count = 0 }]"#,
        "6:40:",
        "`count` must be 1 or more, not 0",
    );
    at(
        r#"[{ window = "1d", count = -3 }]"#,
        "6:40:",
        "`count` must be 1 or more, not -3",
    );
    at(
        r#"[{ window = "1d", cont = 7 }]"#,
        "6:32:",
        "unknown key `cont`: did you mean `count`?",
    );
    at(
        "[{ count = 7 }]",
        "6:15:",
        "`keep_every` entry without `window`",
    );
    // Months and years would be 30.44- and 365.25-day windows, no calendar's (walkthrough).
    at(
        r#"[{ window = "1month", count = 12 }]"#,
        "6:26:",
        "`window`: months and years are not supported",
    );
    at(
        r#""1y""#,
        "6:14:",
        "`keep_every`: months and years are not supported",
    );
    at(
        r#"[{ window = "daily", count = 7 }]"#,
        "6:26:",
        "`window`: `daily` is not a duration",
    );
    at(
        r#"[{ window = "1d", count = 7 }, { window = "24h", count = 2 }]"#,
        "6:56:",
        "`keep_every` has the window 1day twice (first on line 6)",
    );
    at(
        "\"soon\"",
        "6:14:",
        "`keep_every`: `soon` is not a duration",
    );
    at("\"0s\"", "6:14:", "`keep_every` must be longer than zero");
}

#[test]
fn keep_every_of_the_wrong_type_says_what_is_expected() {
    let expected = "expected a duration such as \"1d\", or a list of tables such as \
                    [{ window = \"1d\", count = 7 }, { window = \"7d\", count = 4 }]";
    for value in ["5", "true", r#"{ window = "1d", count = 7 }"#] {
        assert_one_error(
            &format!("{KEEP_LAST}keep_every = {value}\n"),
            "6:14:",
            expected,
        );
    }
    assert_one_error(
        &format!("{KEEP_LAST}keep_every = [{{ window = \"1d\", count = \"7\" }}]\n"),
        "6:40:",
        "invalid type: string \"7\", expected a whole number",
    );
    assert_one_error(
        &format!("{KEEP_LAST}keep_every = [\"1d\"]\n"),
        "6:15:",
        "invalid type: string \"1d\", expected a table such as { window = \"1d\", count = 7 }",
    );
    assert_one_error(
        &format!("{KEEP_LAST}keep_every = [{{ window = 1 }}]\n"),
        "6:26:",
        "invalid type: integer `1`, expected a string",
    );
}

#[test]
fn a_run_may_override_keep_every_in_either_form() {
    let config = base_watch("run_overrides = true\nkeep_every = \"1d\"\n");
    let file = Path::new("/r/.ckptd.toml");
    let merged = overrides::parse(
        "keep_every = [{ window = \"1d\", count = 7 }, { window = \"7d\", count = 4 }]\n",
        file,
        &config.watches[0],
    )
    .unwrap();
    assert_eq!(
        merged.policy.keep_every,
        [window(1, Some(7)), window(7, Some(4))]
    );
    let merged = overrides::parse("keep_every = \"7d\"\n", file, &config.watches[0]).unwrap();
    assert_eq!(merged.policy.keep_every, [window(7, None)]);
    let err = overrides::parse(
        "keep_every = [{ window = \"1d\", count = 0 }]\n",
        file,
        &config.watches[0],
    )
    .unwrap_err();
    assert!(
        err.to_string()
            .contains("/r/.ckptd.toml:1:40: `count` must be 1 or more, not 0"),
        "{err}"
    );
    let err = overrides::parse(
        "keep_every = [{ window = \"1d\", every = 2 }]\n",
        file,
        &config.watches[0],
    )
    .unwrap_err();
    assert!(
        err.to_string()
            .contains("/r/.ckptd.toml:1:32: unknown field `every`"),
        "{err}"
    );
}
