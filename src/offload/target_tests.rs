use std::path::Path;

use super::*;

fn runs(globs: &[&str]) -> Vec<String> {
    globs.iter().map(|g| (*g).to_owned()).collect()
}

#[test]
fn the_run_key_is_the_path_below_the_globs_literal_part() {
    let globs = runs(&["/data/runs/*"]);
    let t = Target::parse("s3://ckpts/archive/{watch}/{run}", &globs).unwrap();
    assert_eq!((t.scheme, t.root.as_str()), (Scheme::S3, "ckpts"));
    assert_eq!(
        t.prefix("hf", &globs, Path::new("/data/runs/bert"))
            .as_deref(),
        Some("archive/hf/bert")
    );
    // Two runs named alike under different parents get different prefixes.
    let globs = runs(&["/data/*/exp"]);
    let t = Target::parse("gs://b/{run}", &globs).unwrap();
    assert_eq!(
        t.prefix("w", &globs, Path::new("/data/alice/exp"))
            .as_deref(),
        Some("alice/exp")
    );
    assert_eq!(
        t.prefix("w", &globs, Path::new("/data/bob/exp")).as_deref(),
        Some("bob/exp")
    );
    // Not this watch's run.
    assert_eq!(t.prefix("w", &globs, Path::new("/elsewhere/exp")), None);
}

#[test]
fn one_literal_run_needs_no_run_placeholder() {
    let globs = runs(&["/data/runs/bert"]);
    let t = Target::parse("s3://b/models/bert", &globs).unwrap();
    assert_eq!(
        t.prefix("w", &globs, Path::new("/data/runs/bert"))
            .as_deref(),
        Some("models/bert")
    );
    let t = Target::parse("s3://b/{run}", &globs).unwrap();
    assert_eq!(
        t.prefix("w", &globs, Path::new("/data/runs/bert"))
            .as_deref(),
        Some("bert")
    );
}

#[test]
fn a_file_target_roots_at_its_literal_directory() {
    let globs = runs(&["/data/runs/*"]);
    let t = Target::parse("file:///mnt/archive/{watch}/{run}", &globs).unwrap();
    assert_eq!((t.scheme, t.root.as_str()), (Scheme::File, "/mnt/archive"));
    assert_eq!(
        t.prefix("hf", &globs, Path::new("/data/runs/x")).as_deref(),
        Some("hf/x")
    );
}

#[test]
fn bad_targets_are_refused_with_the_reason() {
    let globs = runs(&["/data/runs/*"]);
    let err = |to: &str| Target::parse(to, &globs).unwrap_err().to_string();
    assert!(err("ckpts/{run}").contains("has no scheme"));
    assert!(err("ftp://h/{run}").contains("scheme \"ftp://\" is not one ckptd uploads to"));
    assert!(err("s3:///{run}").contains("no bucket"));
    assert!(err("s3://{watch}/{run}").contains("no bucket"));
    assert!(err("file://relative/{run}").contains("needs an absolute directory"));
    assert!(err("s3://b/{user}/{run}").contains("unknown placeholder {user}"));
    assert!(err("s3://b/a/../{run}").contains("an empty, `.` or `..` segment"));
    assert!(err("s3://b/a//{run}").contains("an empty, `.` or `..` segment"));
    assert!(err("s3://b/models")
        .contains("the prefix has no {run}, and the runs glob /data/runs/* matches many runs"));
}

#[test]
fn runs_of_two_globs_never_share_a_prefix() {
    let globs = runs(&["/x/ra/*", "/x/rb/*"]);
    let t = Target::parse("s3://b/{run}", &globs).unwrap();
    assert_eq!(
        t.prefix("w", &globs, Path::new("/x/ra/exp")).as_deref(),
        Some("ra/exp")
    );
    assert_eq!(
        t.prefix("w", &globs, Path::new("/x/rb/exp")).as_deref(),
        Some("rb/exp")
    );
    assert_eq!(t.prefix("w", &globs, Path::new("/x/rc/exp")), None);
    // Two single runs and no {run}: they would share one prefix.
    let globs = runs(&["/a/x", "/b/x"]);
    assert!(Target::parse("s3://b/fixed", &globs).is_err());
}

#[test]
fn before_watch_is_the_text_up_to_a_whole_watch_segment() {
    let globs = runs(&["/d/*"]);
    let t = |to: &str| Target::parse(to, &globs).unwrap();
    assert_eq!(t("s3://b/ckpt/{watch}/{run}").before_watch(), Some("ckpt/"));
    assert_eq!(t("s3://b/{watch}/{run}").before_watch(), Some(""));
    assert_eq!(t("s3://b/x{watch}/{run}").before_watch(), None);
    assert_eq!(t("s3://b/{run}").before_watch(), None);
}
