//! Prometheus metrics end to end: `ckptd run` with `metrics_file` and `metrics_listen` on
//! temp directories. Every wait polls the file, the log or the socket with a deadline.

mod common;

use std::collections::BTreeSet;
use std::io::{Read, Seek, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::time::Duration;

use common::daemon::{wait_until, Daemon};
use common::Fixture;

/// One watch over `run` keeping the last 2 of `ckpt-{step}.pt`, with `daemon` lines added
/// to `[daemon]`.
fn config(f: &Fixture, daemon: &str) {
    f.config(&format!(
        "[daemon]\nstate_dir = \"state\"\n{daemon}\n[[watch]]\nname = \"w\"\nruns = [\"run\"]\nlayout = \"generic\"\npattern = \"ckpt-{{step}}.pt\"\nkeep_last = 2\nsettle = \"1s\"\n"
    ));
}

/// Checkpoints of 100 bytes, the higher the step the newer, all long settled.
fn old_checkpoints(f: &Fixture, steps: std::ops::RangeInclusive<u64>) {
    for step in steps {
        let name = format!("run/ckpt-{step}.pt");
        f.write(&name, vec![0u8; 100]);
        f.age(&name, 1000 - step);
    }
}

fn metrics_file(f: &Fixture) -> String {
    std::fs::read_to_string(f.path("metrics/ckptd.prom")).unwrap_or_default()
}

/// The labels of the run `run` in the fixture.
fn run_labels(f: &Fixture) -> String {
    format!("watch=\"w\",run=\"{}\"", f.path("run").display())
}

fn wait_metric(f: &Fixture, d: &Daemon, line: &str) {
    wait_until(
        &format!("metrics file line {line:?}"),
        || metrics_file(f).lines().any(|l| l == line),
        || format!("{}\n{}", metrics_file(f), d.log()),
    );
}

/// The metric names of the sample lines in `text`.
fn names(text: &str) -> BTreeSet<String> {
    text.lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
        .map(|l| l.split(['{', ' ']).next().unwrap().to_owned())
        .collect()
}

/// A port nothing listens on now.
fn free_port() -> SocketAddr {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
}

/// `GET path` over HTTP/1.1: the status code, the headers and the body.
fn get(addr: SocketAddr, path: &str) -> std::io::Result<(u16, String, String)> {
    let mut stream = TcpStream::connect(addr)?;
    stream.set_read_timeout(Some(Duration::from_secs(10)))?;
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )?;
    let mut response = String::new();
    stream.read_to_string(&mut response)?;
    let (head, body) = response.split_once("\r\n\r\n").unwrap_or((&response, ""));
    let status = head
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    Ok((status, head.to_owned(), body.to_owned()))
}

#[test]
fn the_metrics_file_shows_each_runs_checkpoints_and_deletions() {
    let f = Fixture::new();
    f.mkdir("metrics");
    old_checkpoints(&f, 1..=4);
    config(&f, "metrics_file = \"metrics/ckptd.prom\"");
    let d = Daemon::start(&f, &[]);
    let run = run_labels(&f);
    wait_metric(
        &f,
        &d,
        &format!("ckptd_run_deleted_checkpoints_total{{{run}}} 2"),
    );
    let text = metrics_file(&f);
    for line in [
        format!("ckptd_run_checkpoints{{{run},state=\"complete\"}} 2"),
        format!("ckptd_run_checkpoints{{{run},state=\"in_progress\"}} 0"),
        format!("ckptd_run_checkpoint_bytes{{{run},state=\"complete\"}} 200"),
        format!("ckptd_run_freed_bytes_total{{{run}}} 200"),
        format!("ckptd_run_held{{{run}}} 0"),
        "ckptd_runs 1".to_owned(),
        "ckptd_errors_total 0".to_owned(),
    ] {
        assert!(text.lines().any(|l| l == line), "{line}\nnot in:\n{text}");
    }
    assert!(
        text.contains("\nckptd_last_rescan_timestamp_seconds "),
        "{text}"
    );
    assert!(
        text.contains("\nckptd_filesystem_free_bytes{filesystem=\""),
        "{text}"
    );
    // node_exporter runs as its own user: the file is readable by all, whatever the umask.
    let mode = std::os::unix::fs::PermissionsExt::mode(
        &std::fs::metadata(f.path("metrics/ckptd.prom"))
            .unwrap()
            .permissions(),
    );
    assert_eq!(mode & 0o777, 0o644);

    // A new save: one more deletion, counted on top.
    f.write("run/ckpt-5.pt", vec![0u8; 100]);
    f.age("run/ckpt-5.pt", 1);
    wait_metric(
        &f,
        &d,
        &format!("ckptd_run_deleted_checkpoints_total{{{run}}} 3"),
    );
    wait_metric(&f, &d, &format!("ckptd_run_freed_bytes_total{{{run}}} 300"));
    d.stop();
    assert_eq!(f.listing("metrics"), ["ckptd.prom"], "no temp file left");
}

#[test]
fn the_metrics_file_is_replaced_whole_never_rewritten_in_place() {
    let f = Fixture::new();
    f.mkdir("metrics");
    old_checkpoints(&f, 1..=2);
    config(&f, "metrics_file = \"metrics/ckptd.prom\"");
    let d = Daemon::start(&f, &[]);
    let path = f.path("metrics/ckptd.prom");
    wait_until("the metrics file", || path.exists(), || d.log());
    let mut first = std::fs::File::open(&path).unwrap();
    let mut seen = String::new();
    first.read_to_string(&mut seen).unwrap();

    // Each new version of the file is answered by a new save, which keeps the daemon
    // passing and publishing (at most once a second), while the file is read every 20 ms:
    // every read is a whole file.
    let mut versions = BTreeSet::from([seen.clone()]);
    let mut saved = 0;
    wait_until(
        "4 versions of the metrics file",
        || {
            if saved < versions.len() {
                saved += 1;
                let name = format!("run/ckpt-{}.pt", saved + 2);
                f.write(&name, vec![0u8; 100]);
                f.age(&name, 1);
            }
            let text = std::fs::read_to_string(&path).unwrap();
            assert!(
                text.starts_with("# HELP ckptd_build_info "),
                "partial:\n{text}"
            );
            assert!(text.ends_with('\n'), "partial:\n{text}");
            assert!(
                text.contains("\nckptd_filesystem_inodes{"),
                "partial:\n{text}"
            );
            versions.insert(text);
            versions.len() >= 4
        },
        || d.log(),
    );
    // The file opened first was replaced, not changed: it still reads as it did.
    let mut again = String::new();
    first.rewind().unwrap();
    first.read_to_string(&mut again).unwrap();
    assert_eq!(again, seen);
    d.stop();
    assert_eq!(f.listing("metrics"), ["ckptd.prom"], "no temp file left");
}

#[test]
fn metrics_listen_serves_the_same_metrics_at_slash_metrics() {
    let f = Fixture::new();
    f.mkdir("metrics");
    old_checkpoints(&f, 1..=3);
    let addr = free_port();
    config(
        &f,
        &format!("metrics_file = \"metrics/ckptd.prom\"\nmetrics_listen = \"{addr}\""),
    );
    let d = Daemon::start(&f, &[]);
    d.wait_log(&format!("serving metrics at http://{addr}/metrics"));
    let run = run_labels(&f);
    wait_metric(
        &f,
        &d,
        &format!("ckptd_run_deleted_checkpoints_total{{{run}}} 1"),
    );
    let (status, head, body) = get(addr, "/metrics").unwrap();
    assert_eq!(status, 200, "{head}\n{body}");
    assert!(
        head.to_ascii_lowercase()
            .contains("content-type: text/plain; version=0.0.4"),
        "{head}"
    );
    assert_eq!(names(&body), names(&metrics_file(&f)), "{body}");
    assert!(
        body.lines()
            .any(|l| l == format!("ckptd_run_deleted_checkpoints_total{{{run}}} 1")),
        "{body}"
    );
    let (status, _, _) = get(addr, "/").unwrap();
    assert_eq!(status, 404);
    assert!(!d.log().contains("ERROR"), "{}", d.log());
}

#[test]
fn a_port_already_taken_is_one_error_naming_it_and_the_daemon_still_prunes() {
    let f = Fixture::new();
    f.mkdir("metrics");
    old_checkpoints(&f, 1..=4);
    let taken = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap();
    config(
        &f,
        &format!("metrics_file = \"metrics/ckptd.prom\"\nmetrics_listen = \"{addr}\""),
    );
    let d = Daemon::start(&f, &[]);
    let expected = ["ckpt-3.pt", "ckpt-4.pt"];
    wait_until(
        "the run pruned",
        || f.listing("run") == expected,
        || d.log(),
    );
    let log = d.log();
    let errors: Vec<&str> = log.lines().filter(|l| l.contains("ERROR")).collect();
    assert_eq!(errors.len(), 1, "{log}");
    assert!(
        errors[0].contains(&format!("cannot serve metrics on {addr}")),
        "{log}"
    );
    // The file is still written, and counts the error.
    let run = run_labels(&f);
    wait_metric(
        &f,
        &d,
        &format!("ckptd_run_deleted_checkpoints_total{{{run}}} 2"),
    );
    wait_metric(&f, &d, "ckptd_errors_total 1");
    drop(taken);
    assert!(d.stop().success());
}
