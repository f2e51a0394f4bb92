//! One checkpoint's upload against object_store's in-memory store: the manifest last, files
//! already sent not sent again, an object that differs from what was sent sent again, a file
//! that changes during the upload failing it.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

use object_store::memory::InMemory;
use object_store::path::Path as Key;
use object_store::{ObjectStore, ObjectStoreExt, PutPayload};

use super::{upload, Failure, Settings};
use crate::offload::Manifest;
use crate::upload::job::Job;

fn checkpoint(run: &Path, files: &[(&str, usize)]) -> Job {
    let dir = run.join("checkpoint-10");
    for (name, bytes) in files {
        let path = dir.join(name);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        let body: Vec<u8> = (0..*bytes)
            .map(|i| u8::try_from(i % 251).unwrap())
            .collect();
        std::fs::write(&path, body).unwrap();
    }
    Job {
        run: run.to_owned(),
        watch: "w".into(),
        checkpoint: "checkpoint-10".into(),
        dir: true,
        store: "memory://".into(),
        prefix: "w/run".into(),
        completed_at: std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs(),
        step: Some(10),
        epoch: None,
        metrics: BTreeMap::from([("loss".to_owned(), 0.25)]),
        sent: Vec::new(),
    }
}

fn settings() -> Settings {
    Settings {
        concurrency: 2,
        limiter: None,
    }
}

fn run_async<T>(f: impl std::future::Future<Output = T>) -> T {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
        .block_on(f)
}

async fn keys(store: &InMemory) -> Vec<String> {
    use futures::TryStreamExt;
    let mut keys: Vec<String> = store
        .list(None)
        .map_ok(|m| m.location.to_string())
        .try_collect()
        .await
        .unwrap();
    keys.sort();
    keys
}

#[test]
fn a_checkpoint_is_sent_file_by_file_and_committed_by_its_manifest() {
    let dir = tempfile::tempdir().unwrap();
    // One file larger than a part: sent as a multipart upload.
    let big = usize::try_from(super::PART_BYTES).unwrap() + 12345;
    let mut job = checkpoint(dir.path(), &[("model.bin", big), ("sub/config.json", 10)]);
    let store = Arc::new(InMemory::new());
    let mut saved = 0;
    let manifest = run_async(upload(store.clone(), &mut job, &settings(), &mut |_| {
        saved += 1;
    }))
    .unwrap();
    assert_eq!(saved, 2, "progress is saved after each file");
    assert_eq!(manifest.step, Some(10));
    assert_eq!(manifest.metrics.get("loss"), Some(&0.25));
    let paths: Vec<&str> = manifest.files.iter().map(|f| f.path.as_str()).collect();
    assert_eq!(paths, ["model.bin", "sub/config.json"]);
    assert_eq!(manifest.files[0].bytes, big as u64);
    // SHA-256 of the file as read.
    let local = std::fs::read(dir.path().join("checkpoint-10/model.bin")).unwrap();
    let want = super::hex(&<sha2::Sha256 as sha2::Digest>::digest(&local));
    assert_eq!(manifest.files[0].sha256, want);
    let stored = run_async(async {
        (
            keys(&store).await,
            store
                .get(&Key::from("w/run/checkpoint-10/.ckptd-manifest.json"))
                .await
                .unwrap()
                .bytes()
                .await
                .unwrap(),
            store
                .get(&Key::from("w/run/checkpoint-10/model.bin"))
                .await
                .unwrap()
                .bytes()
                .await
                .unwrap(),
        )
    });
    assert_eq!(
        stored.0,
        [
            "w/run/checkpoint-10/.ckptd-manifest.json",
            "w/run/checkpoint-10/model.bin",
            "w/run/checkpoint-10/sub/config.json"
        ]
    );
    assert_eq!(Manifest::parse(&stored.1).unwrap(), manifest);
    assert_eq!(&stored.2[..], &local[..]);
}

#[test]
fn a_resumed_upload_sends_only_what_the_store_does_not_hold_as_sent() {
    let dir = tempfile::tempdir().unwrap();
    let mut job = checkpoint(dir.path(), &[("a.bin", 100), ("b.bin", 200)]);
    let store = Arc::new(InMemory::new());
    run_async(upload(store.clone(), &mut job, &settings(), &mut |_| {})).unwrap();
    // As if the manifest had not been written before a crash: sent files stay recorded.
    run_async(store.delete(&Key::from("w/run/checkpoint-10/.ckptd-manifest.json"))).unwrap();
    // b.bin replaced on the server by something else (same size): its ETag no longer matches.
    run_async(store.put(
        &Key::from("w/run/checkpoint-10/b.bin"),
        PutPayload::from(vec![7u8; 200]),
    ))
    .unwrap();
    let before = job.sent.clone();
    let mut progress = Vec::new();
    let manifest = run_async(upload(store.clone(), &mut job, &settings(), &mut |j| {
        progress.push(j.sent.len());
    }))
    .unwrap();
    assert_eq!(manifest.files.len(), 2);
    let a_before = before.iter().find(|s| s.path == "a.bin").unwrap();
    let a_after = job.sent.iter().find(|s| s.path == "a.bin").unwrap();
    assert_eq!(a_before.e_tag, a_after.e_tag, "a.bin was not sent again");
    let b = run_async(async {
        store
            .get(&Key::from("w/run/checkpoint-10/b.bin"))
            .await
            .unwrap()
            .bytes()
            .await
            .unwrap()
    });
    let local = std::fs::read(dir.path().join("checkpoint-10/b.bin")).unwrap();
    assert_eq!(&b[..], &local[..], "the replaced object was sent again");
}

#[test]
fn a_committed_copy_of_the_same_save_is_not_sent_again_and_an_older_one_is_uncommitted() {
    let dir = tempfile::tempdir().unwrap();
    let mut job = checkpoint(dir.path(), &[("a.bin", 100)]);
    let store = Arc::new(InMemory::new());
    run_async(upload(store.clone(), &mut job, &settings(), &mut |_| {})).unwrap();
    let mut again = job.clone();
    again.sent.clear();
    let mut sends = 0;
    run_async(upload(store.clone(), &mut again, &settings(), &mut |_| {
        sends += 1;
    }))
    .unwrap();
    assert_eq!(
        sends, 0,
        "the manifest of this very save commits it already"
    );

    // A new save under the same name (another completion time): sent again, and committed
    // with its own completion time.
    let mut newer = job.clone();
    newer.sent.clear();
    newer.completed_at += 5;
    std::fs::write(dir.path().join("checkpoint-10/a.bin"), vec![1u8; 100]).unwrap();
    let manifest = run_async(upload(store.clone(), &mut newer, &settings(), &mut |_| {})).unwrap();
    assert_eq!(manifest.completed_at, newer.completed_at);
}

#[test]
fn a_missing_checkpoint_is_gone_and_a_symlink_inside_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let mut job = checkpoint(dir.path(), &[("a.bin", 10)]);
    std::os::unix::fs::symlink("/etc/passwd", dir.path().join("checkpoint-10/link")).unwrap();
    let store = Arc::new(InMemory::new());
    let err = run_async(upload(store.clone(), &mut job, &settings(), &mut |_| {})).unwrap_err();
    assert!(
        matches!(&err, Failure::Local(m) if m.contains("not a regular file")),
        "{err:?}"
    );
    assert!(run_async(keys(&store)).is_empty(), "nothing is sent");

    std::fs::remove_dir_all(dir.path().join("checkpoint-10")).unwrap();
    let err = run_async(upload(store, &mut job, &settings(), &mut |_| {})).unwrap_err();
    assert!(matches!(err, Failure::Gone(_)), "{err:?}");
}

#[test]
fn a_file_written_after_completion_makes_the_upload_a_new_save() {
    let dir = tempfile::tempdir().unwrap();
    let mut job = checkpoint(dir.path(), &[("a.bin", 10)]);
    job.completed_at -= 100;
    let store = Arc::new(InMemory::new());
    let err = run_async(upload(store.clone(), &mut job, &settings(), &mut |_| {})).unwrap_err();
    assert!(matches!(err, Failure::Changed(_)), "{err:?}");
    assert!(run_async(keys(&store)).is_empty());
}

#[test]
fn a_store_error_is_one_line_with_the_code_of_its_xml_body() {
    let text = "Generic S3 error: Error performing GET http://h/b in 5ms - Server returned non-2xx status code: 403 Forbidden: <?xml version=\"1.0\"?>\n<Error><Code>InvalidAccessKeyId</Code>\n<Message>The AWS Access Key Id you provided does not exist</Message></Error>";
    assert_eq!(
        super::without_body(text),
        "Generic S3 error: Error performing GET http://h/b in 5ms - Server returned non-2xx status code: 403 Forbidden (InvalidAccessKeyId)"
    );
    assert_eq!(super::without_body("a\n  b"), "a b");
}

#[test]
fn a_copy_of_another_run_at_the_prefix_is_never_replaced() {
    let dir = tempfile::tempdir().unwrap();
    let mut job = checkpoint(dir.path(), &[("a.bin", 10)]);
    let store = Arc::new(InMemory::new());
    let mut theirs = Manifest::new(
        "checkpoint-10",
        true,
        1,
        vec![crate::offload::FileEntry {
            path: "a.bin".into(),
            bytes: 10,
            sha256: "0".repeat(64),
        }],
    );
    theirs.run = Some("/elsewhere/exp".into());
    let key = Key::from("w/run/checkpoint-10/.ckptd-manifest.json");
    run_async(store.put(&key, PutPayload::from(theirs.to_json()))).unwrap();
    let err = run_async(upload(store.clone(), &mut job, &settings(), &mut |_| {})).unwrap_err();
    assert!(
        matches!(&err, Failure::Foreign(m) if m.contains("/elsewhere/exp")),
        "{err:?}"
    );
    let still = run_async(async { store.get(&key).await.unwrap().bytes().await.unwrap() });
    assert_eq!(Manifest::parse(&still).unwrap(), theirs);
    assert_eq!(
        run_async(keys(&store)).len(),
        1,
        "nothing of theirs overwritten"
    );
}

#[test]
fn the_cause_of_a_failure_leaves_out_what_changes_between_attempts() {
    let store = |path: &str, ms: u32| Failure::Store {
        message: format!(
            "Error performing PUT http://h/b/{path} in {ms}ms - 404 Not Found (NoSuchBucket)"
        ),
        kind: super::StoreTrouble::Other,
    };
    assert_eq!(
        store("a/config.json", 5).cause(),
        store("b/model.bin", 9).cause()
    );
    assert!(store("a", 1).cause().contains("NoSuchBucket"));
    assert_ne!(store("a", 1).cause(), Failure::Mismatch("x".into()).cause());
}
