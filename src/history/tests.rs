//! The ledger folded into histories: duplicates, fates, names saved again, junk lines.

use super::*;

const LEDGER: &str = r#"{"time":100,"event":"complete","run":"/r/a","watch":"w","checkpoint":"ckpt-1","step":1,"bytes":10,"completed":90,"metric":"loss","value":0.9,"metrics":{"loss":0.9,"acc":0.1},"reasons":["last"]}
{"time":100,"event":"complete","run":"/r/a","watch":"w","checkpoint":"ckpt-2","step":2,"bytes":10,"completed":95,"metric":"loss","value":"NaN","metrics":{"loss":"NaN"},"reasons":["last"]}
not json at all
{"time":200,"event":"complete","run":"/r/a","watch":"w","checkpoint":"ckpt-1","step":1,"bytes":10,"completed":90,"metric":"loss","value":0.9,"metrics":{"loss":0.9},"reasons":["last"]}
{"time":300,"event":"deleting","run":"/r/a","watch":"w","checkpoint":"ckpt-1","step":1,"bytes":10,"reasons":["unkept"],"detail":"older than the last 1"}
{"time":301,"event":"deleted","run":"/r/a","watch":"w","checkpoint":"ckpt-1","step":1,"bytes":10,"reasons":["unkept"],"detail":"older than the last 1"}
{"time":400,"event":"complete","run":"/r/a","watch":"w","checkpoint":"ckpt-1","step":1,"bytes":12,"completed":390,"metric":"loss","value":0.5,"metrics":{"loss":0.5},"reasons":["last"]}
{"time":500,"event":"deleting","run":"/r/a","watch":"w","checkpoint":"ckpt-2","step":2,"bytes":10,"reasons":["unkept"],"detail":"x"}
{"time":600,"event":"deleted","run":"/r/b","watch":"v","checkpoint":"old","step":7,"bytes":3,"reasons":["unkept"],"detail":"older than the last 2"}
{"time":700,"event":"not-deleted","run":"/r/b","watch":"v","checkpoint":"pinned","step":8,"bytes":3,"reasons":["unkept"],"detail":"d","error":"changed since planned","in_trash":false}
{"time":800,"event":"trash-removed","run":"/r/b","path":"/r/b/.ckptd-trash/x"}
"#;

#[test]
fn each_save_is_one_checkpoint_with_its_last_fate() {
    let runs = fold(LEDGER.lines());
    assert_eq!(runs.len(), 2);
    let a = &runs[0];
    assert_eq!(a.run, PathBuf::from("/r/a"));
    assert_eq!(a.watch, "w");
    assert_eq!(a.metric(), Some("loss"));
    let names: Vec<(&str, Option<u64>)> = a
        .entries
        .iter()
        .map(|e| (e.checkpoint.as_str(), e.completed))
        .collect();
    // ckpt-1 recorded twice at one completion is one; saved again later, it is another.
    assert_eq!(
        names,
        [
            ("ckpt-1", Some(90)),
            ("ckpt-1", Some(390)),
            ("ckpt-2", Some(95))
        ]
    );
    assert_eq!(
        a.entries[0].fate,
        Fate::Deleted {
            at: 301,
            why: "older than the last 1".into()
        }
    );
    assert_eq!(a.entries[0].metrics.get("acc"), Some(0.1));
    // Saved again under the same name without a deletion in between: replaced.
    let resaved = fold(
        r#"{"time":1,"event":"complete","run":"/r","checkpoint":"c","completed":1}
{"time":2,"event":"complete","run":"/r","checkpoint":"c","completed":2}"#
            .lines(),
    );
    assert_eq!(resaved[0].entries[0].fate, Fate::Replaced);
    assert_eq!(resaved[0].entries[1].fate, Fate::Kept);
    assert_eq!(a.entries[1].fate, Fate::Kept);
    assert_eq!(a.entries[1].value, Some(0.5));
    assert_eq!(a.entries[2].fate, Fate::Deleting { at: 500 });
    assert!(a.entries[2].value.unwrap().is_nan());
}

#[test]
fn deletions_never_seen_complete_are_still_in_the_history() {
    let runs = fold(LEDGER.lines());
    let b = &runs[1];
    assert_eq!(b.metric(), None);
    assert_eq!(b.entries.len(), 2);
    assert_eq!(b.entries[0].checkpoint, "old");
    assert_eq!(b.entries[0].completed, None);
    assert_eq!(b.entries[0].step, Some(7));
    assert_eq!(
        b.entries[1].fate,
        Fate::NotDeleted {
            at: 700,
            error: "changed since planned".into(),
            in_trash: false
        }
    );
}

#[test]
fn an_empty_or_broken_ledger_is_no_history() {
    assert!(fold("".lines()).is_empty());
    assert!(fold("{\"event\":\"complete\"}\n[1,2]\n".lines()).is_empty());
}
