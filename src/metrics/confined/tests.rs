//! Both ways of opening (openat2, and the resolve-then-walk fallback) on the same cases:
//! files and symlinks inside the run, symlinks out of it at the last or a middle component,
//! FIFOs, and missing files.

use std::os::unix::fs::symlink;
use std::path::Path;

use super::*;

type Opener = fn(&Path, &Path) -> Result<File, OpenError>;

fn fallback(root: &Path, path: &Path) -> Result<File, OpenError> {
    open_resolved(root, path, false)
}

const OPENERS: [(&str, Opener); 2] = [("openat2", open), ("fallback", fallback)];

/// `<tmp>/run/ckpt/` holding `state.json`, and `<tmp>/outside/secret.json`.
fn tree() -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let run = dir.path().join("run");
    std::fs::create_dir_all(run.join("ckpt")).unwrap();
    std::fs::write(run.join("ckpt/state.json"), "inside").unwrap();
    std::fs::create_dir_all(dir.path().join("outside")).unwrap();
    std::fs::write(dir.path().join("outside/secret.json"), "outside").unwrap();
    (dir, run)
}

fn read(result: Result<File, OpenError>) -> String {
    let mut text = String::new();
    std::io::Read::read_to_string(&mut result.unwrap(), &mut text).unwrap();
    text
}

#[test]
fn files_and_symlinks_inside_the_run_are_read() {
    let (dir, run) = tree();
    symlink("../ckpt/state.json", run.join("ckpt/relative.json")).unwrap();
    symlink(run.join("ckpt/state.json"), run.join("ckpt/absolute.json")).unwrap();
    std::fs::create_dir(run.join("other")).unwrap();
    symlink("../other", run.join("ckpt/sub")).unwrap();
    std::fs::write(run.join("other/m.json"), "via a directory link").unwrap();
    for (how, opener) in OPENERS {
        assert_eq!(
            read(opener(&run, &run.join("ckpt/state.json"))),
            "inside",
            "{how}"
        );
        assert_eq!(
            read(opener(&run, &run.join("ckpt/relative.json"))),
            "inside",
            "{how}"
        );
        // RESOLVE_BENEATH refuses every absolute symlink; one that stays inside is still read.
        assert_eq!(
            read(opener(&run, &run.join("ckpt/absolute.json"))),
            "inside",
            "{how}"
        );
        assert_eq!(
            read(opener(&run, &run.join("ckpt/sub/m.json"))),
            "via a directory link",
            "{how}"
        );
    }
    drop(dir);
}

#[test]
fn a_symlink_out_of_the_run_at_any_component_is_refused_naming_its_target() {
    let (dir, run) = tree();
    let outside = dir.path().join("outside");
    symlink(outside.join("secret.json"), run.join("ckpt/absolute.json")).unwrap();
    symlink("../../outside/secret.json", run.join("ckpt/relative.json")).unwrap();
    symlink(&outside, run.join("ckpt/dir")).unwrap();
    symlink("/dev/zero", run.join("ckpt/zero.json")).unwrap();
    let real_outside = std::fs::canonicalize(&outside).unwrap();
    for (how, opener) in OPENERS {
        for (name, target) in [
            ("ckpt/absolute.json", real_outside.join("secret.json")),
            ("ckpt/relative.json", real_outside.join("secret.json")),
            ("ckpt/dir/secret.json", real_outside.join("secret.json")),
            ("ckpt/zero.json", PathBuf::from("/dev/zero")),
        ] {
            match opener(&run, &run.join(name)) {
                Err(OpenError::Escapes { target: t }) => assert_eq!(t, target, "{how} {name}"),
                other => panic!("{how} {name}: {other:?}"),
            }
        }
    }
    // Lexically outside (a path the caller should never pass): refused too.
    assert!(matches!(
        open(&run, &outside.join("secret.json")),
        Err(OpenError::Escapes { .. })
    ));
}

#[test]
fn a_fifo_inside_the_run_is_refused_at_once_and_a_missing_file_is_not_found() {
    let (_dir, run) = tree();
    rustix::fs::mknodat(
        rustix::fs::CWD,
        run.join("ckpt/fifo.json"),
        rustix::fs::FileType::Fifo,
        Mode::from_raw_mode(0o644),
        0,
    )
    .unwrap();
    for (how, opener) in OPENERS {
        let err = opener(&run, &run.join("ckpt/fifo.json")).unwrap_err();
        assert!(
            err.to_string().contains("a FIFO, not a regular file"),
            "{how}: {err}"
        );
        match opener(&run, &run.join("ckpt/missing.json")) {
            Err(OpenError::Io(e)) => assert_eq!(e.kind(), io::ErrorKind::NotFound, "{how}"),
            other => panic!("{how}: {other:?}"),
        }
    }
}

#[test]
fn a_glob_may_leave_the_run_only_as_far_as_its_own_leading_dot_dots() {
    let run = Path::new("/data/exp/ckpt");
    assert_eq!(root_of_pattern(run, "metrics.csv"), run);
    assert_eq!(root_of_pattern(run, "logs/version_*/metrics.csv"), run);
    assert_eq!(root_of_pattern(run, "../tb"), Path::new("/data/exp"));
    assert_eq!(root_of_pattern(run, "./../../m.jsonl"), Path::new("/data"));
    assert_eq!(root_of_pattern(run, "logs/../../x"), run);
    assert_eq!(
        root_of_pattern(run, "/scratch/logs/v*/m.csv"),
        Path::new("/scratch/logs")
    );
    assert_eq!(
        root_of_pattern(run, "/scratch/m.csv"),
        Path::new("/scratch")
    );
}

#[test]
fn openat2_itself_resolves_beneath_and_says_exdev_for_an_escape() {
    // So the tests above exercise openat2, not only the fallback behind it.
    let (dir, run) = tree();
    symlink(
        dir.path().join("outside/secret.json"),
        run.join("ckpt/out.json"),
    )
    .unwrap();
    assert_eq!(
        read(open_beneath(&run, Path::new("ckpt/state.json"))),
        "inside"
    );
    match open_beneath(&run, Path::new("ckpt/out.json")) {
        Err(OpenError::Io(e)) => assert_eq!(e.raw_os_error(), Some(Errno::XDEV.raw_os_error())),
        other => panic!("{other:?}"),
    }
}
