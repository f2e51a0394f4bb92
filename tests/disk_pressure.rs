//! Disk-aware retention on real filesystems: a tmpfs with `size=` for bytes and a loop-mounted
//! ext4 for inodes, each mounted under the test's own temp directory and unmounted whatever
//! happens (where this process may not mount, the test says so and returns). Floors are set
//! from what `statvfs` measures once the checkpoints are written, so page and block rounding
//! cannot move the outcome: each case knows exactly how much is missing.

mod common;

use std::path::Path;

use common::daemon::{wait_until, Daemon};
use common::mount::Mount;
use common::Fixture;

const KIB: u64 = 1024;

/// Free bytes and inodes on the filesystem holding `path`, as a trainer (not root) sees them.
fn free(path: &Path) -> (u64, u64) {
    let st = rustix::fs::statvfs(path).unwrap();
    (st.f_bavail * st.f_frsize, st.f_favail)
}

/// `count` file checkpoints `ckpt-<step>.pt` of `kib` KiB in `run`, one a minute, the
/// newest `newest_age` minutes old.
fn checkpoints(f: &Fixture, run: &str, count: u64, kib: u64, newest_age: u64) {
    for step in 1..=count {
        let name = format!("{run}/ckpt-{step}.pt");
        f.write(&name, vec![7u8; usize::try_from(kib * KIB).unwrap()]);
        f.age(&name, newest_age + count - step);
    }
}

/// Another writer (a dataset download) takes `kib` KiB on the filesystem at `mnt`.
fn unrelated(f: &Fixture, kib: u64) {
    f.write(
        "mnt/dataset.bin",
        vec![1u8; usize::try_from(kib * KIB).unwrap()],
    );
}

/// A checkpoint `ckpt-<step>.pt` of `kib` KiB in `run`, `age` minutes old.
fn checkpoint(f: &Fixture, run: &str, step: u64, kib: u64, age: u64) {
    let name = format!("{run}/ckpt-{step}.pt");
    f.write(&name, vec![7u8; usize::try_from(kib * KIB).unwrap()]);
    f.age(&name, age);
}

/// `[[filesystem]]` on `mnt` with `filesystem`'s keys, and a watch over `mnt/runs/*` with
/// `watch`'s (a settle of one second unless it says otherwise).
fn config(f: &Fixture, filesystem: &str, watch: &str) {
    let settle = if watch.contains("settle") {
        ""
    } else {
        "settle = \"1s\"\n"
    };
    f.config(&format!(
        "[daemon]\nstate_dir = \"state\"\ndisk_check_interval = \"1s\"\n\n\
         [[filesystem]]\npath = \"mnt\"\n{filesystem}\n\n\
         [[watch]]\nname = \"w\"\nruns = [\"mnt/runs/*\"]\nlayout = \"generic\"\n\
         pattern = \"ckpt-{{step}}.pt\"\n{settle}{watch}\n"
    ));
}

fn left(f: &Fixture, run: &str) -> Vec<String> {
    f.listing(run)
        .into_iter()
        .filter(|n| !n.starts_with(".ckptd"))
        .collect()
}

fn output(out: &std::process::Output) -> String {
    format!("{}{}", common::stdout(out), common::stderr(out))
}

/// Six checkpoints of 256 KiB, all kept by `keep_last = 6`; a floor just under the free
/// space; then 700 KiB of someone else's data: 600 KiB missing, so the three oldest go.
fn crossed_floor(f: &Fixture) -> Option<Mount> {
    let mount = Mount::tmpfs(&f.path("mnt"), "size=8m")?;
    checkpoints(f, "mnt/runs/a", 6, 256, 5);
    // A first prune leaves ckptd's own files (its lock, its clock probe) in the run: measured
    // after it, the floor is exactly 100 KiB under what is free.
    config(f, "min_free = 1", "keep_last = 6");
    let first = f.ckptd(&["prune", "--config", "ckptd.toml"]);
    common::assert_success(&first);
    assert_eq!(left(f, "mnt/runs/a").len(), 6, "{}", output(&first));
    let (free_before, _) = free(&mount.path);
    config(
        f,
        &format!("min_free = {}", free_before - 100 * KIB),
        "keep_last = 6",
    );
    Some(mount)
}

#[test]
fn a_floor_crossed_by_an_unrelated_file_makes_prune_delete_oldest_first_until_met() {
    let f = Fixture::new();
    let Some(mount) = crossed_floor(&f) else {
        return;
    };
    unrelated(&f, 700);

    // plan shows the pressure decisions and the filesystem, and deletes nothing.
    let plan = f.ckptd(&["plan", "--config", "ckptd.toml"]);
    let text = common::stdout(&plan);
    common::assert_success(&plan);
    for step in 1..=3 {
        let row = text
            .lines()
            .find(|l| l.trim_start().starts_with(&format!("ckpt-{step}.pt")))
            .unwrap_or_else(|| panic!("no row for ckpt-{step}.pt:\n{text}"));
        assert!(row.contains("DELETE    pressure: min_free"), "{row}");
        assert!(row.ends_with("oldest `last` beyond the newest"), "{row}");
    }
    assert!(text.contains("filesystems:\n  "), "{text}");
    assert!(
        text.contains("600.0 KiB missing; pressure: 3 to delete, 0 to slim"),
        "{text}"
    );
    assert_eq!(left(&f, "mnt/runs/a").len(), 6);

    let out = f.ckptd(&["prune", "--config", "ckptd.toml"]);
    let text = output(&out);
    common::assert_success(&out);
    assert_eq!(
        left(&f, "mnt/runs/a"),
        ["ckpt-4.pt", "ckpt-5.pt", "ckpt-6.pt"],
        "{text}"
    );
    let order: Vec<&str> = text
        .lines()
        .filter(|l| l.contains("checkpoint deleted under pressure"))
        .map(|l| &l[l.find("ckpt-").unwrap()..][..9])
        .collect();
    assert_eq!(order, ["ckpt-1.pt", "ckpt-2.pt", "ckpt-3.pt"], "{text}");
    assert!(
        text.contains("deleted 3 checkpoints, 768.0 KiB freed"),
        "{text}"
    );
    drop(mount);
}

#[test]
fn the_daemon_frees_space_another_writer_took_within_its_check_interval() {
    let f = Fixture::new();
    let Some(mount) = crossed_floor(&f) else {
        return;
    };
    let d = Daemon::start(&f, &[]);
    unrelated(&f, 700);
    wait_until(
        "pressure to delete the three oldest checkpoints",
        || left(&f, "mnt/runs/a").len() == 3,
        || format!("{:?}\n{}", f.listing("mnt/runs/a"), d.log()),
    );
    d.wait_log("free space meets its target again");
    let log = d.log();
    assert_eq!(
        left(&f, "mnt/runs/a"),
        ["ckpt-4.pt", "ckpt-5.pt", "ckpt-6.pt"],
        "{log}"
    );
    let warned = log.find("WARN free space below its target on").expect(&log);
    let first = log
        .find("checkpoint deleted under pressure: ckpt-1.pt")
        .expect(&log);
    let third = log
        .find("checkpoint deleted under pressure: ckpt-3.pt")
        .expect(&log);
    assert!(warned < first && first < third, "{log}");
    assert!(!log.contains("ckpt-4.pt (256.0 KiB)"), "{log}");

    // Crossed again (168 KiB above the floor, 400 KiB more taken): one more checkpoint goes,
    // and a second crossing within the hour is no second WARN.
    f.write("mnt/dataset-2.bin", vec![1u8; 400 * 1024]);
    wait_until(
        "pressure to delete one more checkpoint",
        || left(&f, "mnt/runs/a").len() == 2,
        || format!("{:?}\n{}", f.listing("mnt/runs/a"), d.log()),
    );
    let log = d.log();
    assert_eq!(d.stop().code(), Some(0));
    assert_eq!(left(&f, "mnt/runs/a"), ["ckpt-5.pt", "ckpt-6.pt"], "{log}");
    assert_eq!(
        log.matches("free space below its target").count(),
        1,
        "{log}"
    );
    assert!(!log.contains(" ERROR "), "{log}");
    drop(mount);
}

#[test]
fn headroom_keeps_room_for_the_next_save_of_each_active_run() {
    let f = Fixture::new();
    let Some(mount) = Mount::tmpfs(&f.path("mnt"), "size=8m") else {
        return;
    };
    // Two active runs: a saves 512 KiB, b 256 KiB (their newest, minutes old); headroom
    // wants 768 KiB free. 576 KiB are missing: a's oldest (the oldest of all) frees 512,
    // not enough alone, so the next oldest, b's oldest, goes too.
    for (step, age) in [(1, 30), (2, 20), (3, 10)] {
        checkpoint(&f, "mnt/runs/a", step, 512, age);
    }
    for (step, age) in [(1, 25), (2, 15), (3, 5)] {
        checkpoint(&f, "mnt/runs/b", step, 256, age);
    }
    let (free_now, _) = free(&mount.path);
    unrelated(&f, free_now / KIB - 192);
    config(&f, "headroom = \"next-save\"", "keep_last = 3");
    let out = f.ckptd(&["prune", "--config", "ckptd.toml"]);
    let text = output(&out);
    common::assert_success(&out);
    assert_eq!(left(&f, "mnt/runs/a"), ["ckpt-2.pt", "ckpt-3.pt"], "{text}");
    assert_eq!(left(&f, "mnt/runs/b"), ["ckpt-2.pt", "ckpt-3.pt"], "{text}");
    assert!(
        text.contains("headroom 768.0 KiB for the next saves on"),
        "{text}"
    );
    drop(mount);
}

#[test]
fn max_bytes_on_one_run_leaves_the_others_alone() {
    let f = Fixture::new();
    checkpoints(&f, "runs/a", 4, 256, 5);
    checkpoints(&f, "runs/b", 4, 256, 5);
    f.write("runs/a/.ckptd.toml", "max_bytes = \"600KiB\"\n");
    f.config(
        "[daemon]\nstate_dir = \"state\"\n\n[[watch]]\nname = \"w\"\nruns = [\"runs/*\"]\n\
         layout = \"generic\"\npattern = \"ckpt-{step}.pt\"\nsettle = \"1s\"\nkeep_last = 4\n\
         run_overrides = true\n",
    );
    let out = f.ckptd(&["prune", "--config", "ckptd.toml"]);
    let text = output(&out);
    common::assert_success(&out);
    // 1 MiB held, 600 KiB allowed: the two oldest go (one alone leaves 768 KiB).
    assert_eq!(left(&f, "runs/a"), ["ckpt-3.pt", "ckpt-4.pt"], "{text}");
    assert_eq!(left(&f, "runs/b").len(), 4, "{text}");
    assert!(
        text.contains(&format!(
            "checkpoint deleted under pressure: ckpt-1.pt in {} (256.0 KiB): max_bytes 600.0 KiB on",
            f.path("runs/a").display()
        )),
        "{text}"
    );
}

#[test]
fn a_floor_that_cannot_be_met_is_one_error_and_the_protected_stay() {
    let f = Fixture::new();
    let Some(mount) = Mount::tmpfs(&f.path("mnt"), "size=8m") else {
        return;
    };
    checkpoints(&f, "mnt/runs/a", 3, 256, 5);
    f.write("mnt/runs/a/.ckptd-pins/ckpt-2.pt", "");
    // In progress: written just now, settle is two minutes.
    f.write("mnt/runs/a/ckpt-4.pt", vec![7u8; 256 * 1024]);
    let (free_now, _) = free(&mount.path);
    config(
        &f,
        &format!("min_free = {}", free_now + 2048 * KIB),
        "keep_last = 3\nsettle = \"2m\"",
    );
    let out = f.ckptd(&["prune", "--config", "ckptd.toml"]);
    let text = output(&out);
    assert_eq!(out.status.code(), Some(1), "{text}");
    assert_eq!(
        left(&f, "mnt/runs/a"),
        ["ckpt-2.pt", "ckpt-3.pt", "ckpt-4.pt"],
        "{text}"
    );
    let errors: Vec<&str> = text.lines().filter(|l| l.contains(" ERROR ")).collect();
    assert_eq!(errors.len(), 1, "{text}");
    assert!(
        errors[0].contains("cannot free enough space on"),
        "{}",
        errors[0]
    );
    assert!(errors[0].contains("1.8 MiB still missing"), "{}", errors[0]);
    assert!(
        errors[0].contains("protected: 3 checkpoints (768.0 KiB)"),
        "{}",
        errors[0]
    );
    assert!(
        text.contains("1 filesystem below its target (see the ERROR)"),
        "{text}"
    );
    drop(mount);
}

#[test]
fn an_inode_floor_on_ext4_deletes_until_enough_inodes_are_free() {
    let f = Fixture::new();
    let Some(mount) = Mount::ext4(&f.path("mnt"), &f.path("ext4.img"), 4096) else {
        return;
    };
    // Three directory checkpoints of 50 files: each frees 51 inodes.
    f.many_file_checkpoints("mnt/runs/a", 1..=3, 50);
    let (_, inodes_before) = free(&mount.path);
    f.config(&format!(
        "[daemon]\nstate_dir = \"state\"\n\n[[filesystem]]\npath = \"mnt\"\n\
         min_free_inodes = {inodes_before}\n\n[[watch]]\nname = \"w\"\nruns = [\"mnt/runs/*\"]\n\
         layout = \"generic\"\npattern = \"ckpt-{{step}}\"\nsettle = \"1s\"\nkeep_last = 3\n"
    ));
    // Sixty inodes taken by someone else: two checkpoints are needed, one is not enough.
    for i in 0..60 {
        f.write(&format!("mnt/other/{i}"), "");
    }
    let out = f.ckptd(&["prune", "--config", "ckptd.toml"]);
    let text = output(&out);
    common::assert_success(&out);
    assert_eq!(left(&f, "mnt/runs/a"), ["ckpt-3"], "{text}");
    assert!(text.contains("min_free_inodes"), "{text}");
    drop(mount);
}

/// An HF checkpoint `mnt/runs/hf/checkpoint-<step>`: 64 KiB of weights and metadata, 512 KiB
/// of optimizer state, `age` minutes old.
fn hf_checkpoint(f: &Fixture, step: u64, age: u64) {
    let dir = format!("mnt/runs/hf/checkpoint-{step}");
    f.write(&format!("{dir}/model.safetensors"), vec![1u8; 64 * 1024]);
    f.write(&format!("{dir}/config.json"), "{}");
    f.write(&format!("{dir}/optimizer.pt"), vec![2u8; 512 * 1024]);
    f.write(
        &format!("{dir}/trainer_state.json"),
        format!(r#"{{"global_step": {step}, "log_history": []}}"#),
    );
    f.age(&dir, age);
}

fn hf_pressure_config(f: &Fixture, filesystem: &str) {
    f.config(&format!(
        "[daemon]\nstate_dir = \"state\"\n\n[[filesystem]]\npath = \"mnt\"\n{filesystem}\n\n\
         [[watch]]\nname = \"hf\"\nruns = [\"mnt/runs/*\"]\nlayout = \"huggingface\"\n\
         keep_last = 3\nslim_after = 3\nsettle = \"1s\"\n"
    ));
}

#[test]
fn pressure_slims_before_it_deletes_and_never_the_newest() {
    let f = Fixture::new();
    let Some(mount) = Mount::tmpfs(&f.path("mnt"), "size=8m") else {
        return;
    };
    for (step, age) in [(1, 30), (2, 20), (3, 10)] {
        hf_checkpoint(&f, step, age);
    }
    hf_pressure_config(&f, "min_free = 1");
    let first = f.ckptd(&["prune", "--config", "ckptd.toml"]);
    common::assert_success(&first);
    let (free_now, _) = free(&mount.path);
    // 600 KiB missing: slimming the two older checkpoints frees 1 MiB; nothing is deleted,
    // and the newest (the resume point) keeps its optimizer state.
    hf_pressure_config(&f, &format!("min_free = {}", free_now + 600 * KIB));
    let out = f.ckptd(&["prune", "--config", "ckptd.toml"]);
    let text = output(&out);
    common::assert_success(&out);
    for step in [1, 2] {
        assert_eq!(
            f.listing(&format!("mnt/runs/hf/checkpoint-{step}")),
            ["config.json", "model.safetensors", "trainer_state.json"],
            "{text}"
        );
        assert!(f
            .path(&format!("mnt/runs/hf/.ckptd-slim/checkpoint-{step}"))
            .exists());
    }
    assert!(
        f.path("mnt/runs/hf/checkpoint-3/optimizer.pt").exists(),
        "{text}"
    );
    assert!(!text.contains("checkpoint deleted"), "{text}");
    let (free_after, _) = free(&mount.path);
    assert!(free_after >= free_now + 600 * KIB, "{text}");
    drop(mount);
}

#[test]
fn a_checkpoint_the_rules_slim_and_pressure_deletes_is_only_deleted() {
    let f = Fixture::new();
    let Some(mount) = Mount::tmpfs(&f.path("mnt"), "size=8m") else {
        return;
    };
    for (step, age) in [(1, 40), (2, 30), (3, 20), (4, 10)] {
        hf_checkpoint(&f, step, age);
    }
    let config = |filesystem: &str, slim: &str| {
        f.config(&format!(
            "[daemon]\nstate_dir = \"state\"\n\n[[filesystem]]\npath = \"mnt\"\n{filesystem}\n\n\
             [[watch]]\nname = \"hf\"\nruns = [\"mnt/runs/*\"]\nlayout = \"huggingface\"\n\
             keep_last = 4\n{slim}settle = \"1s\"\n"
        ));
    };
    config("min_free = 1", "");
    common::assert_success(&f.ckptd(&["prune", "--config", "ckptd.toml"]));
    let (free_now, _) = free(&mount.path);
    // slim_after = 3 slims checkpoint-1 (512 KiB of optimizer state); pressure slims 2 and
    // 3 (1 MiB more) and still misses 32 KiB, so checkpoint-1 goes: it is deleted, never
    // slimmed first.
    config(
        &format!("min_free = {}", free_now + 1568 * KIB),
        "slim_after = 3\n",
    );
    let out = f.ckptd(&["prune", "--config", "ckptd.toml"]);
    let text = output(&out);
    common::assert_success(&out);
    assert_eq!(
        left(&f, "mnt/runs/hf"),
        ["checkpoint-2", "checkpoint-3", "checkpoint-4"],
        "{text}"
    );
    assert!(!text.contains("checkpoint-1: removed"), "{text}");
    assert!(
        text.contains("checkpoint deleted under pressure: checkpoint-1 in"),
        "{text}"
    );
    for step in [2, 3] {
        assert!(
            !f.path(&format!("mnt/runs/hf/checkpoint-{step}/optimizer.pt"))
                .exists(),
            "{text}"
        );
    }
    assert!(f.path("mnt/runs/hf/checkpoint-4/optimizer.pt").exists());
    assert!(text.contains("deleted 1 checkpoint,"), "{text}");
    drop(mount);
}

#[test]
fn a_run_directory_mounted_over_after_its_first_pass_gets_no_pressure_from_the_filesystem_below() {
    let f = Fixture::new();
    let Some(outer) = Mount::tmpfs(&f.path("mnt"), "size=8m") else {
        return;
    };
    f.mkdir("mnt/runs/a");
    checkpoints(&f, "stage", 6, 256, 5);
    let (free_before, _) = free(&outer.path);
    f.config(&format!(
        "[daemon]\nstate_dir = \"state\"\ndisk_check_interval = \"1s\"\nrescan_interval = \"1s\"\n\n\
         [[filesystem]]\npath = \"mnt\"\nmin_free = {}\n\n\
         [[watch]]\nname = \"w\"\nruns = [\"mnt/runs/*\"]\nlayout = \"generic\"\n\
         pattern = \"ckpt-{{step}}.pt\"\nsettle = \"1s\"\nkeep_last = 6\n",
        free_before - 100 * KIB
    ));
    let d = Daemon::start(&f, &[]);
    // The job's own volume is mounted at the run directory, with its checkpoints: the run is
    // on another filesystem now, and deleting from it frees nothing on `mnt`.
    let Some(inner) = Mount::tmpfs(&f.path("mnt/runs/a"), "size=8m") else {
        return;
    };
    for step in 1..=6 {
        let name = format!("ckpt-{step}.pt");
        std::fs::copy(f.path(&format!("stage/{name}")), inner.path.join(&name)).unwrap();
        f.age(&format!("mnt/runs/a/{name}"), 5 + 6 - step);
    }
    d.wait_log("checkpoint complete: ckpt-6.pt");
    unrelated(&f, 700);
    d.wait_log("cannot free enough space on");
    // Two more disk checks and rescans: still nothing deleted.
    std::thread::sleep(std::time::Duration::from_secs(3));
    let log = d.log();
    assert_eq!(d.stop().code(), Some(0));
    assert_eq!(left(&f, "mnt/runs/a").len(), 6, "{log}");
    assert!(!log.contains("deleted under pressure"), "{log}");
    drop(inner);
    drop(outer);
}

#[test]
fn a_filesystem_path_mounted_over_after_start_is_not_measured_for_the_runs_below_it() {
    let f = Fixture::new();
    let Some(outer) = Mount::tmpfs(&f.path("mnt"), "size=8m") else {
        return;
    };
    checkpoints(&f, "mnt/runs/a", 6, 256, 5);
    f.mkdir("mnt/data");
    let (free_before, _) = free(&outer.path);
    f.config(&format!(
        "[daemon]\nstate_dir = \"state\"\ndisk_check_interval = \"1s\"\n\n\
         [[filesystem]]\npath = \"mnt/data\"\nmin_free = {}\n\n\
         [[watch]]\nname = \"w\"\nruns = [\"mnt/runs/*\"]\nlayout = \"generic\"\n\
         pattern = \"ckpt-{{step}}.pt\"\nsettle = \"1s\"\nkeep_last = 6\n",
        free_before - 100 * KIB
    ));
    let d = Daemon::start(&f, &[]);
    // Another (full) filesystem is mounted at the table's path: what statvfs says there is
    // nothing that deleting the runs of the filesystem below can change.
    let Some(inner) = Mount::tmpfs(&f.path("mnt/data"), "size=1m") else {
        return;
    };
    common::mount::fill_bytes(&inner.path);
    wait_until(
        "a disk check after the mount",
        || {
            let log = d.log();
            log.contains("is on another filesystem than when the config was loaded")
                || log.contains("deleted under pressure")
        },
        || d.log(),
    );
    std::thread::sleep(std::time::Duration::from_secs(2));
    let log = d.log();
    assert_eq!(d.stop().code(), Some(0));
    assert_eq!(left(&f, "mnt/runs/a").len(), 6, "{log}");
    assert!(!log.contains("deleted under pressure"), "{log}");
    drop(inner);
    drop(outer);
}

#[test]
fn deletions_whose_space_does_not_come_back_at_once_are_not_followed_by_more() {
    let f = Fixture::new();
    let Some(mount) = crossed_floor(&f) else {
        return;
    };
    // An evaluation job reads the two oldest checkpoints: deleting them frees nothing until
    // it closes them.
    let held: Vec<std::fs::File> = ["ckpt-1.pt", "ckpt-2.pt"]
        .iter()
        .map(|n| std::fs::File::open(f.path(&format!("mnt/runs/a/{n}"))).unwrap())
        .collect();
    let d = Daemon::start(&f, &[]);
    unrelated(&f, 700);
    d.wait_log("checkpoint deleted under pressure: ckpt-3.pt in");
    // The next check sees 512 KiB of it missing and says so; three checks later (one a
    // second), the three oldest (what 600 KiB missing asks for) are still all that went.
    d.wait_log("deleted checkpoints on");
    std::thread::sleep(std::time::Duration::from_secs(3));
    let log = d.log();
    assert!(log.contains("have not come free yet (512.0 KiB"), "{log}");
    assert_eq!(d.stop().code(), Some(0));
    assert_eq!(
        left(&f, "mnt/runs/a"),
        ["ckpt-4.pt", "ckpt-5.pt", "ckpt-6.pt"],
        "{log}"
    );
    drop(held);
    drop(mount);
}

#[test]
fn prune_does_not_delete_again_for_its_own_deletions_held_open_by_a_reader() {
    let f = Fixture::new();
    let Some(mount) = crossed_floor(&f) else {
        return;
    };
    // An evaluation job reads the two oldest checkpoints: deleting them frees nothing until
    // it closes them. prune's first pass deletes what the floor asks for (the three oldest);
    // measured again after it, only one of them shows free: that is no reason to delete more.
    let held: Vec<std::fs::File> = ["ckpt-1.pt", "ckpt-2.pt"]
        .iter()
        .map(|n| std::fs::File::open(f.path(&format!("mnt/runs/a/{n}"))).unwrap())
        .collect();
    unrelated(&f, 700);
    let out = f.ckptd(&["prune", "--config", "ckptd.toml"]);
    let text = output(&out);
    assert_eq!(
        left(&f, "mnt/runs/a"),
        ["ckpt-4.pt", "ckpt-5.pt", "ckpt-6.pt"],
        "{text}"
    );
    assert!(
        text.contains("deleted 3 checkpoints, 768.0 KiB freed"),
        "{text}"
    );
    drop(held);
    drop(mount);
}

#[test]
fn a_save_under_a_temp_name_right_after_pressure_deletions_is_not_taken_for_space_held_open() {
    let f = Fixture::new();
    let Some(mount) = crossed_floor(&f) else {
        return;
    };
    let d = Daemon::start(&f, &[]);
    unrelated(&f, 700);
    d.wait_log("checkpoint deleted under pressure: ckpt-3.pt in");
    let trash = f.path("mnt/runs/a/.ckptd-trash");
    wait_until(
        "the trash emptied",
        || std::fs::read_dir(&trash).map_or(true, |mut d| d.next().is_none()),
        || d.log(),
    );
    // The trainer's next save, under a temp name no run counts as held, takes 300 KiB before
    // the next disk check: 132 KiB under the floor. The three deletions all showed at once
    // (no reader): nothing is coming free, so the next oldest goes.
    f.write(
        "mnt/runs/a/tmp-ckpt-7.pt",
        vec![7u8; usize::try_from(300 * KIB).unwrap()],
    );
    d.wait_log("checkpoint deleted under pressure: ckpt-4.pt in");
    let log = d.log();
    assert_eq!(d.stop().code(), Some(0));
    assert!(!log.contains("have not come free yet"), "{log}");
    assert_eq!(
        left(&f, "mnt/runs/a"),
        ["ckpt-5.pt", "ckpt-6.pt", "tmp-ckpt-7.pt"],
        "{log}"
    );
    drop(mount);
}
