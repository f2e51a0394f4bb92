//! `upload` end to end: the real binary uploads real checkpoint directories to a real
//! S3-compatible server (moto, on 127.0.0.1, reached through the ordinary `AWS_*`
//! environment) or to a directory on another filesystem, and deletes a local checkpoint only
//! once its copy is committed. Faults: the server stopping mid-upload, an object changed on
//! the server before the manifest, kill -9 of ckptd mid-upload, credentials refused.

mod common;

use common::daemon::{wait_until, Daemon};
use common::moto::Moto;
use common::{stderr, Fixture};

/// `run/checkpoint-STEP` (a Hugging Face checkpoint) with `files` weight files of `kib` KiB
/// each, aged so that higher steps are newer; returns the weights' bytes by file name.
fn checkpoint(
    f: &Fixture,
    run: &str,
    step: u64,
    files: usize,
    kib: usize,
) -> Vec<(String, Vec<u8>)> {
    let dir = format!("{run}/checkpoint-{step}");
    f.write(
        &format!("{dir}/config.json"),
        format!("{{\"step\": {step}}}"),
    );
    f.write(
        &format!("{dir}/trainer_state.json"),
        format!("{{\"global_step\": {step}, \"log_history\": []}}"),
    );
    let mut weights = Vec::new();
    for i in 1..=files {
        let name = format!("model-{i:05}-of-{files:05}.safetensors");
        let body: Vec<u8> = (0..kib * 1024)
            .map(|b| u8::try_from((b * 7 + i * 13 + usize::try_from(step).unwrap()) % 251).unwrap())
            .collect();
        f.write(&format!("{dir}/{name}"), &body);
        weights.push((name, body));
    }
    f.age(&dir, 1000 - step);
    weights
}

/// A watch over `runs/*` keeping the last checkpoint, uploading with `upload` (the inside of
/// its inline table).
fn config(f: &Fixture, upload: &str) {
    f.config(&format!(
        "[daemon]\nstate_dir = \"state\"\n\n[[watch]]\nname = \"w\"\nruns = [\"runs/*\"]\nlayout = \"huggingface\"\nkeep_last = 1\nsettle = \"1s\"\nupload = {{ {upload} }}\n"
    ));
}

fn exists(f: &Fixture, relative: &str) -> bool {
    f.path(relative).exists()
}

fn env(moto: &Moto) -> Vec<(&'static str, String)> {
    moto.env()
}

fn start(f: &Fixture, moto: &Moto, extra: &[(&str, &str)]) -> Daemon {
    let env = env(moto);
    let mut all: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    all.extend_from_slice(extra);
    Daemon::start(f, &all)
}

const MANIFEST: &str = ".ckptd-manifest.json";

#[test]
fn checkpoints_are_uploaded_and_verified_before_they_are_deleted_locally() {
    let Some(moto) = Moto::start() else { return };
    moto.create_bucket("ckpt");
    let bucket = moto.bucket("ckpt");
    let f = Fixture::new();
    let mut weights = Vec::new();
    for step in [100, 200, 300] {
        weights.push(checkpoint(&f, "runs/exp", step, 2, 256));
    }
    config(
        &f,
        "to = \"s3://ckpt/models/{watch}/{run}\", which = [\"all\"]",
    );
    let daemon = start(&f, &moto, &[]);
    wait_until(
        "only the newest checkpoint left locally",
        || !exists(&f, "runs/exp/checkpoint-100") && !exists(&f, "runs/exp/checkpoint-200"),
        || daemon.log(),
    );
    for step in [100, 200] {
        let base = format!("models/w/exp/checkpoint-{step}");
        assert!(
            bucket.has(&format!("{base}/{MANIFEST}")),
            "{:?}",
            bucket.keys()
        );
    }
    // The newest is kept anyway; its upload goes on.
    wait_until(
        "checkpoint-300 committed",
        || bucket.has(&format!("models/w/exp/checkpoint-300/{MANIFEST}")),
        || daemon.log(),
    );
    // The objects are the files, byte for byte, and the manifest names each with its size and
    // SHA-256.
    let (name, body) = &weights[0][1];
    assert_eq!(
        &bucket.get(&format!("models/w/exp/checkpoint-100/{name}")),
        body
    );
    let manifest: serde_json::Value =
        serde_json::from_slice(&bucket.get(&format!("models/w/exp/checkpoint-100/{MANIFEST}")))
            .unwrap();
    assert_eq!(manifest["step"], 100);
    assert_eq!(manifest["files"].as_array().unwrap().len(), 4);
    let entry = manifest["files"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["path"] == name.as_str())
        .unwrap();
    assert_eq!(entry["bytes"], body.len());
    assert_eq!(entry["sha256"].as_str().unwrap().len(), 64);

    // Each deletion comes after its upload was committed.
    let log = daemon.log();
    for step in [100, 200] {
        let uploaded = log
            .find(&format!("checkpoint checkpoint-{step} of "))
            .unwrap_or_else(|| panic!("no upload line for {step}:\n{log}"));
        let deleted = log
            .find(&format!("checkpoint deleted: checkpoint-{step} "))
            .unwrap_or_else(|| panic!("no deletion of {step}:\n{log}"));
        assert!(uploaded < deleted, "{log}");
    }
    assert!(
        log.contains("sizes and checksums verified, manifest written"),
        "{log}"
    );

    // A new save: uploaded, and only then is the one before it deleted.
    checkpoint(&f, "runs/exp", 400, 1, 64);
    f.age("runs/exp/checkpoint-400", 0);
    wait_until(
        "checkpoint-300 deleted once checkpoint-400 is complete",
        || !exists(&f, "runs/exp/checkpoint-300"),
        || daemon.log(),
    );
    wait_until(
        "checkpoint-400 committed",
        || bucket.has(&format!("models/w/exp/checkpoint-400/{MANIFEST}")),
        || daemon.log(),
    );
    assert!(exists(&f, "runs/exp/checkpoint-400"));
    daemon.stop();
}

#[test]
fn a_server_that_stops_mid_upload_holds_the_deletion_until_it_is_back() {
    let Some(moto) = Moto::start() else { return };
    moto.create_bucket("ckpt");
    let port = moto.port;
    let f = Fixture::new();
    checkpoint(&f, "runs/exp", 100, 2, 1536);
    checkpoint(&f, "runs/exp", 200, 1, 16);
    config(
        &f,
        "to = \"s3://ckpt/{run}\", which = [\"all\"], upload_rate = \"512KiB\"",
    );
    let daemon = start(&f, &moto, &[]);
    let bucket = moto.bucket("ckpt");
    wait_until(
        "the upload of checkpoint-100 under way",
        || bucket.has("exp/checkpoint-100/config.json"),
        || daemon.log(),
    );
    moto.stop();
    // One WARN for the store (whichever checkpoint's upload failed first), not one each.
    let failed = |log: &str| {
        log.lines()
            .filter(|l| l.contains(" WARN ") && l.contains("kept locally, retrying in"))
            .map(str::to_owned)
            .collect::<Vec<_>>()
    };
    wait_until(
        "a WARN for the failed upload",
        || !failed(&daemon.log()).is_empty(),
        || daemon.log(),
    );
    let log = daemon.log();
    let lines = failed(&log);
    assert_eq!(lines.len(), 1, "{log}");
    assert!(
        lines[0].contains("no answer from the store"),
        "{}",
        lines[0]
    );
    assert!(
        !log.contains("Encountered transport error"),
        "object_store's own lines stay out: {log}"
    );
    assert!(exists(&f, "runs/exp/checkpoint-100"), "{log}");

    // The server is back (empty, as a restarted moto is): the upload is retried and
    // committed, then the local copy goes.
    let moto = Moto::start_on(port);
    moto.create_bucket("ckpt");
    let bucket = moto.bucket("ckpt");
    wait_until(
        "checkpoint-100 deleted after its upload succeeded",
        || !exists(&f, "runs/exp/checkpoint-100"),
        || daemon.log(),
    );
    assert!(
        bucket.has(&format!("exp/checkpoint-100/{MANIFEST}")),
        "{:?}",
        bucket.keys()
    );
    assert!(bucket.has("exp/checkpoint-100/model-00002-of-00002.safetensors"));
    daemon.stop();
}

#[test]
fn an_object_changed_on_the_server_is_sent_again_before_the_manifest_is_written() {
    let Some(moto) = Moto::start() else { return };
    moto.create_bucket("ckpt");
    let bucket = moto.bucket("ckpt");
    let f = Fixture::new();
    checkpoint(&f, "runs/exp", 100, 1, 2048);
    checkpoint(&f, "runs/exp", 200, 1, 16);
    let config_json = std::fs::read(f.path("runs/exp/checkpoint-100/config.json")).unwrap();
    config(
        &f,
        "to = \"s3://ckpt/{run}\", which = [\"all\"], upload_rate = \"512KiB\", concurrency = 1",
    );
    let daemon = start(&f, &moto, &[]);
    // Files go one at a time, in name order: config.json first, then the 2 MiB of weights.
    wait_until(
        "config.json of checkpoint-100 uploaded",
        || bucket.has("exp/checkpoint-100/config.json"),
        || daemon.log(),
    );
    bucket.put(
        "exp/checkpoint-100/config.json",
        vec![b'x'; config_json.len()],
    );
    assert!(!bucket.has(&format!("exp/checkpoint-100/{MANIFEST}")));
    wait_until(
        "checkpoint-100 deleted after its upload",
        || !exists(&f, "runs/exp/checkpoint-100"),
        || daemon.log(),
    );
    let log = daemon.log();
    assert!(
        log.contains("upload of checkpoint-100 in ")
            && log.contains("the store does not hold what was sent: config.json"),
        "{log}"
    );
    assert_eq!(bucket.get("exp/checkpoint-100/config.json"), config_json);
    assert!(bucket.has(&format!("exp/checkpoint-100/{MANIFEST}")));
    daemon.stop();
}

#[test]
fn kill_9_mid_upload_resumes_from_the_files_already_sent() {
    let Some(moto) = Moto::start() else { return };
    moto.create_bucket("ckpt");
    let bucket = moto.bucket("ckpt");
    let f = Fixture::new();
    checkpoint(&f, "runs/exp", 100, 2, 1024);
    checkpoint(&f, "runs/exp", 200, 1, 16);
    config(
        &f,
        "to = \"s3://ckpt/{run}\", which = [\"all\"], upload_rate = \"512KiB\", concurrency = 1",
    );
    let mut daemon = start(&f, &moto, &[]);
    let queued = || {
        std::fs::read_dir(f.path("state/uploads"))
            .map(|d| {
                d.flatten()
                    .filter_map(|e| std::fs::read_to_string(e.path()).ok())
                    .collect::<String>()
            })
            .unwrap_or_default()
    };
    wait_until(
        "the first weights file of checkpoint-100 recorded as sent",
        || queued().contains("\"path\": \"model-00001-of-00002.safetensors\""),
        || daemon.log(),
    );
    daemon.child.kill().unwrap();
    daemon.child.wait().unwrap();
    assert!(!bucket.has(&format!("exp/checkpoint-100/{MANIFEST}")));
    assert!(exists(&f, "runs/exp/checkpoint-100"));

    let daemon = start(&f, &moto, &[]);
    wait_until(
        "checkpoint-100 deleted after its resumed upload",
        || !exists(&f, "runs/exp/checkpoint-100"),
        || daemon.log(),
    );
    let log = daemon.log();
    assert!(
        log.contains("resuming upload of checkpoint-100 in "),
        "{log}"
    );
    let committed = log
        .lines()
        .find(|l| l.contains("checkpoint checkpoint-100 of ") && l.contains("uploaded to"))
        .unwrap();
    assert!(
        committed.contains("sent now, the rest before"),
        "{committed}"
    );
    assert!(bucket.has(&format!("exp/checkpoint-100/{MANIFEST}")));
    assert!(
        queued().is_empty(),
        "the queue is empty once every upload is committed"
    );
    daemon.stop();
}

#[test]
fn refused_credentials_are_one_clear_error_and_nothing_is_deleted() {
    let Some(moto) = Moto::start() else { return };
    moto.create_bucket("ckpt");
    moto.require_auth();
    let f = Fixture::new();
    for step in [100, 200, 300] {
        checkpoint(&f, "runs/exp", step, 1, 16);
    }
    config(&f, "to = \"s3://ckpt/{run}\"");
    let daemon = start(&f, &moto, &[("CKPTD_LOG", "ckptd=debug")]);
    wait_until(
        "an upload tried again after the wait",
        || daemon.log().contains("failed again (attempt 2)"),
        || daemon.log(),
    );
    let log = daemon.log();
    let errors: Vec<&str> = log.lines().filter(|l| l.contains(" ERROR ")).collect();
    assert_eq!(errors.len(), 1, "{log}");
    assert!(errors[0].contains("credentials"), "{}", errors[0]);
    assert!(
        !errors[0].contains("testing"),
        "a secret or key id is never logged: {}",
        errors[0]
    );
    for step in [100, 200, 300] {
        assert!(exists(&f, &format!("runs/exp/checkpoint-{step}")), "{log}");
    }
    daemon.stop();
}

#[test]
fn prune_copies_to_a_directory_on_another_filesystem_before_deleting() {
    let f = Fixture::new();
    let Some(_archive) = common::mount::Mount::tmpfs(&f.path("archive"), "size=64m") else {
        return;
    };
    let weights = checkpoint(&f, "runs/exp", 100, 1, 64);
    checkpoint(&f, "runs/exp", 200, 1, 64);
    config(
        &f,
        &format!("to = \"file://{}/{{run}}\"", f.path("archive").display()),
    );
    let plan = f.plan_json();
    let reasons = common::decisions(&plan, 0);
    assert_eq!(
        reasons[0],
        common::row("checkpoint-100", "keep", &["uploading"]),
        "{plan}"
    );
    let out = f.prune();
    assert!(!exists(&f, "runs/exp/checkpoint-100"), "{}", stderr(&out));
    let archived = f.path("archive/exp/checkpoint-100");
    assert_eq!(
        std::fs::read(archived.join(&weights[0].0)).unwrap(),
        weights[0].1
    );
    assert!(archived.join(MANIFEST).exists());
    assert!(f.path("archive/exp/checkpoint-200").join(MANIFEST).exists());
    assert!(exists(&f, "runs/exp/checkpoint-200"));
    let plan = f.plan_json();
    assert_eq!(
        common::decisions(&plan, 0)[0],
        common::row("checkpoint-200", "keep", &["newest-complete", "last"]),
        "{plan}"
    );
}

#[test]
fn a_store_that_cannot_be_opened_deletes_nothing() {
    let f = Fixture::new();
    checkpoint(&f, "runs/exp", 100, 1, 4);
    checkpoint(&f, "runs/exp", 200, 1, 4);
    config(
        &f,
        &format!(
            "to = \"file://{}/{{run}}\"",
            f.path("not-mounted").display()
        ),
    );
    let out = f.ckptd(&["prune", "--config", "ckptd.toml"]);
    let err = stderr(&out);
    assert!(err.contains("is not a directory (not mounted?)"), "{err}");
    assert!(exists(&f, "runs/exp/checkpoint-100"), "{err}");
    assert!(!f.path("not-mounted").exists(), "never created");
    // Nothing was lost, but cron hears of it: exit 1, and the summary says why.
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(
        common::stdout(&out)
            .contains("failed: those checkpoints are kept until their upload succeeds"),
        "{}",
        common::stdout(&out)
    );
}

#[test]
fn upload_without_a_network_is_said_at_startup_and_nothing_is_deleted() {
    // A network namespace of its own, with no interface up: what the shipped unit's
    // PrivateNetwork=yes gives ckptd when the upload drop-in is not installed.
    let probe = std::process::Command::new("unshare")
        .args(["-n", "true"])
        .status();
    if !probe.is_ok_and(|s| s.success()) {
        eprintln!("SKIPPED: unshare -n is not available here (needs root or user namespaces)");
        return;
    }
    let f = Fixture::new();
    checkpoint(&f, "runs/exp", 100, 1, 4);
    checkpoint(&f, "runs/exp", 200, 1, 4);
    config(&f, "to = \"s3://ckpt-bucket/{run}\"");
    let daemon = Daemon::spawn_under(
        &f,
        &[
            ("AWS_ACCESS_KEY_ID", "testing"),
            ("AWS_SECRET_ACCESS_KEY", "testing"),
            ("AWS_REGION", "us-east-1"),
        ],
        &["unshare", "-n"],
    );
    daemon.wait_log("ckptd ready");
    wait_until(
        "the startup ERROR about the network",
        || {
            daemon
                .log()
                .contains("the network is unreachable from ckptd")
        },
        || daemon.log(),
    );
    let log = daemon.log();
    let line = log
        .lines()
        .find(|l| l.contains("the network is unreachable from ckptd"))
        .unwrap();
    assert!(line.contains(" ERROR "), "{line}");
    assert!(line.contains("upload.conf.example"), "{line}");
    assert!(exists(&f, "runs/exp/checkpoint-100"), "{log}");
    daemon.stop();
}

#[test]
fn runs_of_two_globs_named_alike_get_prefixes_of_their_own() {
    let f = Fixture::new();
    f.mkdir("archive");
    let a = checkpoint(&f, "ra/exp", 100, 1, 4);
    checkpoint(&f, "ra/exp", 200, 1, 4);
    let b = checkpoint(&f, "rb/exp", 100, 1, 8);
    checkpoint(&f, "rb/exp", 200, 1, 8);
    f.config(&format!(
        "[daemon]\nstate_dir = \"state\"\n\n[[watch]]\nname = \"w\"\nruns = [\"ra/*\", \"rb/*\"]\nlayout = \"huggingface\"\nkeep_last = 1\nsettle = \"1s\"\nupload = {{ to = \"file://{}/{{run}}\" }}\n",
        f.path("archive").display()
    ));
    f.prune();
    assert!(!exists(&f, "ra/exp/checkpoint-100") && !exists(&f, "rb/exp/checkpoint-100"));
    // Each run's copy is its own: neither overwrote the other.
    assert_eq!(
        std::fs::read(f.path("archive/ra/exp/checkpoint-100").join(&a[0].0)).unwrap(),
        a[0].1
    );
    assert_eq!(
        std::fs::read(f.path("archive/rb/exp/checkpoint-100").join(&b[0].0)).unwrap(),
        b[0].1
    );
}

#[test]
fn a_queued_checkpoint_written_to_during_its_upload_is_uploaded_again_not_deleted() {
    let f = Fixture::new();
    f.mkdir("archive");
    checkpoint(&f, "runs/exp", 100, 2, 512);
    // Only the newest is to be uploaded; checkpoint-100 is now, then stops being it.
    f.config(&format!(
        "[daemon]\nstate_dir = \"state\"\n\n[[watch]]\nname = \"w\"\nruns = [\"runs/*\"]\nlayout = \"huggingface\"\nkeep_last = 1\nsettle = \"2s\"\nupload = {{ to = \"file://{}/{{run}}\", which = [\"last\"], upload_rate = \"128KiB\", concurrency = 1 }}\n",
        f.path("archive").display()
    ));
    let daemon = Daemon::start(&f, &[]);
    daemon.wait_log("uploading checkpoint-100");
    // An evaluation job writes into the old checkpoint while it uploads (a minute ago, as
    // far as its mtimes say); then the next save comes.
    f.write(
        "runs/exp/checkpoint-100/eval_results.json",
        "{\"eval_loss\": 0.5}",
    );
    f.age("runs/exp/checkpoint-100", 1);
    checkpoint(&f, "runs/exp", 200, 1, 1);
    f.age("runs/exp/checkpoint-200", 0);
    // Whether the pass sees the change first (the new save replaces the upload) or the
    // upload does (it stops as changed, and the next pass queues the new save), the
    // checkpoint stays held until a copy of it as it is now is committed.
    wait_until(
        "checkpoint-100 committed, then deleted",
        || !exists(&f, "runs/exp/checkpoint-100"),
        || daemon.log(),
    );
    let manifest = f.path("archive/exp/checkpoint-100").join(MANIFEST);
    assert!(manifest.exists(), "{}", daemon.log());
    let text = std::fs::read_to_string(manifest).unwrap();
    assert!(
        text.contains("eval_results.json"),
        "the copy is of the checkpoint as it is now: {text}"
    );
    daemon.stop();
}

#[test]
fn remote_retention_keeps_the_rules_copies_and_plan_shows_it() {
    let Some(moto) = Moto::start() else { return };
    moto.create_bucket("ckpt");
    let bucket = moto.bucket("ckpt");
    let f = Fixture::new();
    for step in [100, 200, 300, 400] {
        checkpoint(&f, "runs/exp", step, 1, 16);
    }
    f.config(
        "[daemon]\nstate_dir = \"state\"\n\n[[watch]]\nname = \"w\"\nruns = [\"runs/*\"]\nlayout = \"huggingface\"\nkeep_last = 1\nsettle = \"1s\"\nupload = { to = \"s3://ckpt/{run}\" }\nremote = { keep_last = 2 }\n",
    );
    let daemon = start(&f, &moto, &[]);
    wait_until(
        "two remote copies left, the newest two",
        || {
            let manifests: Vec<String> = bucket
                .keys()
                .into_iter()
                .filter(|(k, _)| k.ends_with(MANIFEST))
                .map(|(k, _)| k)
                .collect();
            manifests
                == [
                    format!("exp/checkpoint-300/{MANIFEST}"),
                    format!("exp/checkpoint-400/{MANIFEST}"),
                ]
        },
        || format!("{:?}\n{}", bucket.keys(), daemon.log()),
    );
    wait_until(
        "the old copies' objects deleted too",
        || {
            !bucket.keys().iter().any(|(k, _)| {
                k.starts_with("exp/checkpoint-100/") || k.starts_with("exp/checkpoint-200/")
            })
        },
        || format!("{:?}", bucket.keys()),
    );
    let log = daemon.log();
    assert!(
        log.contains("remote copy deleted: checkpoint-100 in s3://ckpt/exp"),
        "{log}"
    );
    daemon.stop();

    // plan shows the remote copies under the run.
    let env = env(&moto);
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_ckptd"))
        .args(["plan", "--config", "ckptd.toml"])
        .current_dir(f.dir.path())
        .envs(env.iter().map(|(k, v)| (*k, v.as_str())))
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("remote copies in s3://ckpt/exp: 2 committed, 0 to delete"),
        "{text}"
    );
    assert!(
        text.lines()
            .any(|l| l.contains("checkpoint-300") && l.contains("keep") && l.contains("last")),
        "{text}"
    );
}
