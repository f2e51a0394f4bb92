//! The `upload` table: a checked target, the rules to upload for, a rate, a concurrency; a
//! run may change only `which`.

use super::tests::{assert_one_error, one_override_error, parse};
use super::UPLOAD_CONCURRENCY;
use crate::offload::{Scheme, Which};
use crate::plan::Reason;

fn watch(extra: &str) -> String {
    format!("[[watch]]\nname = \"a\"\nruns = [\"/data/runs/*\"]\nlayout = \"huggingface\"\nkeep_last = 3\n{extra}")
}

#[test]
fn upload_is_a_target_the_rules_a_rate_and_a_concurrency() {
    let config = parse(&watch(
        "upload = { to = \"s3://bucket/ckpt/{watch}/{run}\", which = [\"best\", \"every-steps\"], upload_rate = \"100MiB/s\", concurrency = 8 }\n",
    ))
    .unwrap();
    let upload = config.watches[0].upload.as_ref().unwrap();
    assert_eq!(upload.target.scheme, Scheme::S3);
    assert_eq!(upload.target.root, "bucket");
    assert_eq!(
        upload.which,
        Which::Rules(vec![Reason::Best, Reason::EverySteps])
    );
    assert_eq!(upload.rate, Some(100 << 20));
    assert_eq!(upload.concurrency, 8);

    let config = parse(&watch("upload = { to = \"file:///mnt/archive/{run}\" }\n")).unwrap();
    let upload = config.watches[0].upload.as_ref().unwrap();
    assert_eq!(
        upload.which,
        Which::All,
        "which defaults to every checkpoint"
    );
    assert_eq!(upload.rate, None);
    assert_eq!(upload.concurrency, UPLOAD_CONCURRENCY);
    assert!(parse(&watch("")).unwrap().watches[0].upload.is_none());
}

#[test]
fn each_upload_mistake_is_said_where_it_is() {
    assert_one_error(
        &watch("upload = { which = [\"all\"] }\n"),
        "6:10",
        "`upload` needs `to`",
    );
    assert_one_error(
        &watch("upload = { to = \"s3://bucket/ckpt\" }\n"),
        "6:17",
        "the prefix has no {run}",
    );
    assert_one_error(
        &watch("upload = { to = \"ftp://x/{run}\" }\n"),
        "6:17",
        "\"ftp://\" is not one ckptd uploads to",
    );
    assert_one_error(
        &watch("upload = { to = \"s3://b/{run}\", which = [\"bets\"] }\n"),
        "6:41",
        "`bets` is not a rule to upload for",
    );
    assert_one_error(
        &watch("upload = { to = \"s3://b/{run}\", upload_rate = \"fast\" }\n"),
        "6:47",
        "`upload_rate` is bytes per second",
    );
    assert_one_error(
        &watch("upload = { to = \"s3://b/{run}\", upload_rate = 0 }\n"),
        "6:47",
        "at least 1 byte per second",
    );
    assert_one_error(
        &watch("upload = { to = \"s3://b/{run}\", concurrency = 0 }\n"),
        "6:47",
        "1 to 64, not 0",
    );
    assert_one_error(
        &watch("upload = { to = \"s3://b/{run}\", where = 1 }\n"),
        "6",
        "where",
    );
}

#[test]
fn a_run_may_choose_which_but_never_where() {
    let config = parse(&watch(
        "run_overrides = true\nupload = { to = \"s3://b/{run}\", which = [\"best\"] }\n",
    ))
    .unwrap();
    let w = &config.watches[0];
    let run = super::overrides::parse(
        "upload = { which = [\"all\"] }\n",
        std::path::Path::new("/data/runs/x/.ckptd.toml"),
        w,
    )
    .unwrap();
    let upload = run.upload.unwrap();
    assert_eq!(upload.which, Which::All);
    assert_eq!(upload.to, "s3://b/{run}");

    let error = one_override_error(
        w,
        "upload = { to = \"s3://mine/{run}\" }\n",
        "`upload.to` cannot be set per run",
    );
    assert_eq!((error.line, error.column), (1, 17));
    one_override_error(
        w,
        "upload = { which = [\"all\"], upload_rate = \"1GiB\" }\n",
        "`upload.upload_rate` cannot be set per run",
    );

    let bare = parse(&watch("run_overrides = true\n")).unwrap();
    one_override_error(
        &bare.watches[0],
        "upload = { which = [\"all\"] }\n",
        "needs the watch to have `upload`",
    );
}

#[test]
fn defaults_give_every_watch_its_upload() {
    let config = parse(
        "[defaults]\nupload = { to = \"gs://b/{watch}/{run}\" }\n[[watch]]\nname = \"a\"\nruns = [\"/d/*\"]\nlayout = \"huggingface\"\nkeep_last = 1\n",
    )
    .unwrap();
    let upload = config.watches[0].upload.as_ref().unwrap();
    assert_eq!(upload.target.scheme, Scheme::Gcs);
}

#[test]
fn remote_is_the_watch_rules_over_the_uploaded_copies() {
    let config = parse(&watch(
        "metric = \"eval_loss\"\nmode = \"min\"\nupload = { to = \"s3://b/{run}\" }\nremote = { keep_last = 2, keep_best = 1 }\n",
    ))
    .unwrap();
    let remote = config.watches[0].remote.as_ref().unwrap();
    assert_eq!(remote.keep_last, Some(2));
    let best = remote.keep_best.as_ref().unwrap();
    assert_eq!(best.metric, "eval_loss", "the watch's metric by default");
    assert_eq!(remote.settle, std::time::Duration::ZERO);

    assert_one_error(
        &watch("remote = { keep_last = 2 }\n"),
        "6:10",
        "it needs `upload`",
    );
    assert_one_error(
        &watch("upload = { to = \"s3://b/{run}\" }\nremote = { keep_lats = 2 }\n"),
        "7",
        "keep_lats",
    );
    let config = parse(&watch(
        "run_overrides = true\nupload = { to = \"s3://b/{run}\" }\nremote = { keep_last = 2 }\n",
    ))
    .unwrap();
    one_override_error(
        &config.watches[0],
        "remote = { keep_last = 0 }\n",
        "`remote` cannot be set per run",
    );
}

#[test]
fn two_watches_uploading_to_one_store_are_kept_apart_by_watch() {
    let two = |a: &str, b: &str| {
        format!(
            "[[watch]]\nname = \"a\"\nruns = [\"/d/a/*\"]\nlayout = \"huggingface\"\nkeep_last = 1\nupload = {{ to = \"{a}\" }}\n[[watch]]\nname = \"b\"\nruns = [\"/d/b/*\"]\nlayout = \"huggingface\"\nkeep_last = 1\nupload = {{ to = \"{b}\" }}\n"
        )
    };
    assert!(parse(&two("s3://x/c/{watch}/{run}", "s3://x/c/{watch}/{run}")).is_ok());
    assert!(
        parse(&two("s3://x/{run}", "s3://y/{run}")).is_ok(),
        "two stores"
    );
    let errors = parse(&two("s3://x/{run}", "s3://x/{run}")).unwrap_err();
    assert_eq!(errors.0.len(), 2, "{errors:?}");
    assert!(errors.0[0]
        .message
        .contains("give both the same prefix followed by a whole {watch} segment"));
    assert!(parse(&two("s3://x/c/{watch}/{run}", "s3://x/{watch}/{run}")).is_err());
}
