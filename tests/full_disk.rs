//! Deletion on completely full filesystems, the moment ckptd exists for: a tmpfs with no free
//! byte, a tmpfs with no free inode, and a loop-mounted ext4 with no free block, each on a first
//! start (no `.ckptd*` files in the run yet) and with them present. Each test mounts its own
//! filesystem under its temp directory and unmounts it whatever happens; where this process may
//! not mount, the test says so and returns.

mod common;

use common::daemon::Daemon;
use common::mount::{fill_bytes, fill_inodes, Mount};
use common::Fixture;

/// What makes a filesystem full.
#[derive(Clone, Copy)]
enum Full {
    Bytes,
    Inodes,
}

fn config(f: &Fixture, keep_last: u32) {
    f.config(&format!(
        "[daemon]\nstate_dir = \"state\"\n\n[[watch]]\nname = \"w\"\nruns = [\"mnt/run\"]\nlayout = \"generic\"\npattern = \"ckpt-{{step}}.pt\"\nsettle = \"1s\"\nkeep_last = {keep_last}\n"
    ));
}

/// Three old checkpoints of 64 KiB in `mnt/run`; with `present`, a `prune` that deletes
/// nothing has left ckptd's own files there first. Then the filesystem is filled.
fn prepare(f: &Fixture, mount: &Mount, full: Full, present: bool) {
    for step in 1..=3 {
        let name = format!("mnt/run/ckpt-{step}.pt");
        f.write(&name, vec![7u8; 64 * 1024]);
        f.age(&name, 100 - step);
    }
    config(f, 3);
    if present {
        f.prune();
        assert!(f.path("mnt/run/.ckptd.lock").exists());
    } else {
        assert!(!f.path("mnt/run/.ckptd.lock").exists());
    }
    std::fs::create_dir(mount.path.join("fill")).unwrap();
    match full {
        Full::Bytes => fill_bytes(&mount.path.join("fill")),
        Full::Inodes => fill_inodes(&mount.path.join("fill")),
    }
    config(f, 1);
}

fn assert_freed(f: &Fixture, output: &str) {
    let left: Vec<String> = f
        .listing("mnt/run")
        .into_iter()
        .filter(|n| !n.starts_with(".ckptd"))
        .collect();
    assert_eq!(left, ["ckpt-3.pt"], "{output}");
    let own: Vec<String> = f
        .listing("mnt/run")
        .into_iter()
        .filter(|n| n.starts_with(".ckptd-trash"))
        .collect();
    assert!(own.is_empty(), "trash left behind: {own:?}\n{output}");
    assert_eq!(
        std::fs::read(f.path("mnt/run/ckpt-3.pt")).unwrap().len(),
        64 * 1024
    );
}

/// `prune` on the full filesystem `mount` frees what the policy says.
fn prune_frees(f: &Fixture, mount: Mount, full: Full, present: bool) {
    prepare(f, &mount, full, present);
    let out = f.ckptd(&["prune", "--config", "ckptd.toml"]);
    let text = format!("{}{}", common::stdout(&out), common::stderr(&out));
    common::assert_success(&out);
    assert_freed(f, &text);
    drop(mount);
}

fn prune_frees_space(full: Full, present: bool) {
    let f = Fixture::new();
    let options = match full {
        Full::Bytes => "size=1m",
        Full::Inodes => "nr_inodes=40",
    };
    if let Some(mount) = Mount::tmpfs(&f.path("mnt"), options) {
        prune_frees(&f, mount, full, present);
    }
}

#[test]
fn prune_frees_a_tmpfs_with_no_free_byte_on_a_first_start() {
    prune_frees_space(Full::Bytes, false);
}

#[test]
fn prune_frees_a_tmpfs_with_no_free_byte_with_its_files_present() {
    prune_frees_space(Full::Bytes, true);
}

#[test]
fn prune_frees_a_tmpfs_with_no_free_inode_on_a_first_start() {
    // No inode for `.ckptd.lock` or `.ckptd-trash/`: the run directory's own lock, a rename in
    // place, and (no probe, so no storage clock) two looks `settle` apart.
    prune_frees_space(Full::Inodes, false);
}

#[test]
fn prune_frees_a_tmpfs_with_no_free_inode_with_its_files_present() {
    prune_frees_space(Full::Inodes, true);
}

fn ext4(f: &Fixture) -> Option<Mount> {
    Mount::ext4(&f.path("mnt"), &f.path("ext4.img"), 4096)
}

#[test]
fn prune_frees_an_ext4_with_no_free_block_on_a_first_start() {
    let f = Fixture::new();
    if let Some(mount) = ext4(&f) {
        prune_frees(&f, mount, Full::Bytes, false);
    }
}

#[test]
fn prune_frees_an_ext4_with_no_free_block_with_its_files_present() {
    let f = Fixture::new();
    if let Some(mount) = ext4(&f) {
        prune_frees(&f, mount, Full::Bytes, true);
    }
}

fn daemon_frees(f: &Fixture, mount: Mount) {
    let d = Daemon::start(f, &[]);
    common::daemon::wait_until(
        "the full filesystem to be pruned",
        || {
            f.listing("mnt/run")
                .iter()
                .filter(|n| n.starts_with("ckpt-"))
                .count()
                == 1
        },
        || format!("{:?}\n{}", f.listing("mnt/run"), d.log()),
    );
    let log = d.log();
    assert_eq!(d.stop().code(), Some(0));
    assert_freed(f, &log);
    assert!(log.contains("checkpoint deleted: ckpt-1.pt"), "{log}");
    drop(mount);
}

#[test]
fn the_daemon_frees_a_tmpfs_with_no_free_inode_on_a_first_start() {
    let f = Fixture::new();
    let Some(mount) = Mount::tmpfs(&f.path("mnt"), "nr_inodes=40") else {
        return;
    };
    prepare(&f, &mount, Full::Inodes, false);
    daemon_frees(&f, mount);
}

#[test]
fn the_daemon_frees_an_ext4_with_no_free_block_on_a_first_start() {
    let f = Fixture::new();
    let Some(mount) = ext4(&f) else { return };
    prepare(&f, &mount, Full::Bytes, false);
    daemon_frees(&f, mount);
}

#[test]
fn the_daemon_frees_a_tmpfs_with_no_free_byte_with_its_files_present() {
    let f = Fixture::new();
    let Some(mount) = Mount::tmpfs(&f.path("mnt"), "size=1m") else {
        return;
    };
    prepare(&f, &mount, Full::Bytes, true);
    daemon_frees(&f, mount);
}

#[test]
fn a_read_only_run_says_so_and_where_to_look_under_systemd() {
    // Issue 10, edges: under the unit's sandbox a run outside ReadWritePaths= is read-only;
    // the MESSAGE (all `journalctl -u ckptd` shows) must name the run, the cause and the fix.
    let f = Fixture::new();
    let Some(mount) = Mount::tmpfs(&f.path("mnt"), "size=1m") else {
        return;
    };
    for step in 1..=3 {
        let name = format!("mnt/run/ckpt-{step}.pt");
        f.write(&name, vec![7u8; 1024]);
        f.age(&name, 100 - step);
    }
    config(&f, 1);
    let remounted = std::process::Command::new("mount")
        .args(["-o", "remount,ro"])
        .arg(&mount.path)
        .status()
        .unwrap();
    assert!(remounted.success());
    let out = f.ckptd(&["prune", "--yes", "--config", "ckptd.toml"]);
    assert_eq!(out.status.code(), Some(1));
    let err = common::stderr(&out);
    let run = f.path("mnt/run");
    assert!(
        err.contains(&format!("cannot take the run lock of {}", run.display())),
        "{err}"
    );
    assert!(
        err.contains(
            "read-only filesystem: under systemd, the run must be in the unit's ReadWritePaths="
        ),
        "{err}"
    );
    assert_eq!(f.listing("mnt/run").len(), 3);
}
