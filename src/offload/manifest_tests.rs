use super::*;

const SHA: &str = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08";

fn file(path: &str, bytes: u64) -> FileEntry {
    FileEntry {
        path: path.to_owned(),
        bytes,
        sha256: SHA.to_owned(),
    }
}

fn hf(step: u64) -> Manifest {
    let mut m = Manifest::new(
        &format!("checkpoint-{step}"),
        true,
        1_700_000_000 + step,
        vec![file("model.safetensors", 100), file("optimizer.pt", 200)],
    );
    m.step = Some(step);
    m.metrics.insert("eval_loss".to_owned(), 0.5);
    m
}

#[test]
fn a_manifest_survives_writing_and_reading() {
    let m = hf(500);
    assert_eq!(Manifest::parse(&m.to_json()), Ok(m.clone()));
    assert_eq!(m.bytes(), Some(300));
}

#[test]
fn paths_that_would_leave_the_checkpoint_are_refused() {
    for bad in [
        "../other-run/x",
        "/etc/passwd",
        "a/../../b",
        "a//b",
        "",
        ".",
        "sub/.",
    ] {
        let mut m = hf(1);
        m.files.push(file(bad, 1));
        assert_eq!(
            Manifest::parse(&m.to_json()),
            Err(ManifestError::Path(bad.to_owned())),
            "{bad:?}"
        );
    }
    let mut m = hf(1);
    m.checkpoint = "../checkpoint-1".to_owned();
    assert_eq!(
        m.validate(),
        Err(ManifestError::Name("../checkpoint-1".to_owned()))
    );
}

#[test]
fn a_manifest_that_names_itself_twice_or_nothing_is_refused() {
    let mut m = hf(1);
    m.files.push(file(MANIFEST_NAME, 1));
    assert_eq!(
        m.validate(),
        Err(ManifestError::ManifestName(MANIFEST_NAME.to_owned()))
    );

    let mut m = hf(1);
    m.files.push(file("model.safetensors", 1));
    assert_eq!(
        m.validate(),
        Err(ManifestError::Duplicate("model.safetensors".to_owned()))
    );

    let mut m = hf(1);
    m.files.clear();
    assert_eq!(m.validate(), Err(ManifestError::Empty));

    let mut m = hf(1);
    m.files[0].sha256 = SHA.to_uppercase();
    assert!(matches!(m.validate(), Err(ManifestError::Sha256 { .. })));

    let mut m = hf(1);
    m.files = vec![file("a", u64::MAX), file("b", 1)];
    assert_eq!(m.validate(), Err(ManifestError::Overflow));
}

#[test]
fn a_file_checkpoint_holds_exactly_itself() {
    let m = Manifest::new(
        "epoch=3-step=300.ckpt",
        false,
        1,
        vec![file("epoch=3-step=300.ckpt", 9)],
    );
    assert_eq!(m.validate(), Ok(()));
    let other = Manifest::new("epoch=3-step=300.ckpt", false, 1, vec![file("x.ckpt", 9)]);
    assert!(matches!(
        other.validate(),
        Err(ManifestError::FileCheckpoint { .. })
    ));
}

#[test]
fn other_formats_unknown_fields_and_garbage_are_refused_with_the_reason() {
    let mut m = hf(1);
    m.format = 2;
    assert_eq!(Manifest::parse(&m.to_json()), Err(ManifestError::Format(2)));

    let mut json: serde_json::Value = serde_json::from_slice(&hf(1).to_json()).unwrap();
    json["extra"] = serde_json::json!(1);
    let err = Manifest::parse(json.to_string().as_bytes()).unwrap_err();
    assert!(err.to_string().contains("unknown field `extra`"), "{err}");

    let err = Manifest::parse(b"{\"format\": 1").unwrap_err();
    assert!(
        err.to_string().starts_with("not a ckptd manifest: "),
        "{err}"
    );
}

#[test]
fn as_a_checkpoint_it_is_complete_sized_and_ranked_by_its_own_metric() {
    let m = hf(500);
    let c = m.to_checkpoint(Some("eval_loss"));
    assert_eq!((c.name.as_str(), c.step), ("checkpoint-500", Some(500)));
    assert_eq!(c.bytes(), Some(300));
    assert_eq!(
        c.completed_at(),
        Some(UNIX_EPOCH + Duration::from_secs(1_700_000_500))
    );
    assert_eq!(c.metric, MetricObservation::Final(Some(0.5)));
    assert_eq!(c.metrics.get("eval_loss"), Some(0.5));
    // A metric the manifest lacks is no value: unranked, never worst.
    assert_eq!(
        m.to_checkpoint(Some("eval_acc")).metric,
        MetricObservation::Final(None)
    );
    assert_eq!(m.to_checkpoint(None).metric, MetricObservation::NotWanted);
}
