//! Shared storage end to end: `ckptd run` over a FUSE mount (bindfs) whose files are written
//! through the backing directory, which is what another node's writes look like from this
//! one: no inotify event reaches ckptd, for the runs nor for the directories above them.

mod common;

use std::time::{Duration, Instant};

use common::daemon::{wait_until, Daemon};
use common::mount::Mount;
use common::Fixture;

const POLL_INTERVAL: Duration = Duration::from_secs(2);
const SETTLE: Duration = Duration::from_secs(1);

/// Three fresh checkpoints in `run` (a path under the backing directory).
fn save_three(f: &Fixture, run: &str) {
    for step in 1..=3 {
        f.write(&format!("{run}/ckpt-{step}.pt"), vec![0u8; 100]);
    }
}

/// Waits until `run` (seen through the mount) holds only its newest checkpoint, and returns
/// how long that took from now.
fn pruned_after(f: &Fixture, d: &Daemon, run: &str) -> Duration {
    let from = Instant::now();
    wait_until(
        &format!("{run} pruned to ckpt-3.pt"),
        || f.listing(run) == ["ckpt-3.pt"],
        || format!("listing: {:?}\n{}", f.listing(run), d.log()),
    );
    from.elapsed()
}

#[test]
fn runs_created_by_another_node_are_adopted_and_pruned_within_a_poll_interval() {
    let f = Fixture::new();
    // Carol's run is there at start; Alice's directory too, but not her run yet.
    f.mkdir("backing/users/carol/ckpt");
    f.mkdir("backing/users/alice");
    let Some(mount) = Mount::bindfs(&f.path("backing"), &f.path("mnt")) else {
        return;
    };
    // The default rescan_interval (5 minutes): only polling the directories above the runs
    // can find the new ones in time.
    f.config(&format!(
        "[daemon]\nstate_dir = \"state\"\n\n[[watch]]\nname = \"w\"\nruns = [\"mnt/users/*/ckpt\"]\nlayout = \"generic\"\npattern = \"ckpt-{{step}}.pt\"\nkeep_last = 1\nsettle = \"{}s\"\npoll_interval = \"{}s\"\n",
        SETTLE.as_secs(),
        POLL_INTERVAL.as_secs()
    ));
    let d = Daemon::start(&f, &[]);
    assert!(d.log().contains("network filesystem (fuse)"), "{}", d.log());
    let bound = POLL_INTERVAL + SETTLE + Duration::from_secs(1);

    // A new run under a directory that was there at start, then one under a new directory.
    for user in ["alice", "bob"] {
        let run = format!("users/{user}/ckpt");
        f.mkdir(&format!("backing/{run}"));
        save_three(&f, &format!("backing/{run}"));
        let took = pruned_after(&f, &d, &format!("mnt/{run}"));
        eprintln!("{run}: pruned {took:?} after its last write");
        assert!(
            took <= bound,
            "{run} pruned {took:?} after its last write, more than poll_interval + settle + 1 s\n{}",
            d.log()
        );
    }
    assert!(
        d.log().contains("mnt/users/bob/ckpt watch=w polled=true"),
        "{}",
        d.log()
    );

    // A removed run is forgotten without waiting for the rescan either.
    std::fs::remove_dir_all(f.path("backing/users/bob")).unwrap();
    d.wait_log("run directory gone: forgotten");
    let log = d.log();
    assert!(!log.contains("ERROR"), "{log}");
    assert_eq!(d.stop().code(), Some(0));
    drop(mount);
}
