//! Small real filesystems for tests: tmpfs, loop-mounted ext4 and FUSE (bindfs) under the
//! test's own temp directory, always unmounted when the guard drops (lazily as a last resort),
//! and filled to the last block or inode on request.

use std::path::{Path, PathBuf};
use std::process::Command;

/// A mounted filesystem, unmounted on drop.
pub struct Mount {
    pub path: PathBuf,
    /// `major:minor` of the mounted filesystem, to find it again if a test moved it.
    device: String,
}

impl Mount {
    /// A tmpfs with `options` (e.g. `size=1m` or `nr_inodes=32`); `None` (with a message) where
    /// this process may not mount.
    pub fn tmpfs(at: &Path, options: &str) -> Option<Self> {
        std::fs::create_dir_all(at).unwrap();
        mount(&["-t", "tmpfs", "-o", options, "tmpfs"], at)
    }

    /// `source` bind-mounted at `at` (the same files under a second path).
    pub fn bind(source: &Path, at: &Path) -> Option<Self> {
        std::fs::create_dir_all(at).unwrap();
        mount(&["--bind", source.to_str().unwrap()], at)
    }

    /// `source` mounted at `at` through FUSE with bindfs: what a network filesystem looks
    /// like from this node when `source` is written directly (another node's writes raise no
    /// event here). `None` (with a message) where FUSE is not available: no `/dev/fuse`, or
    /// the mount fails. bindfs itself must be installed (`.ci/run` installs it).
    pub fn bindfs(source: &Path, at: &Path) -> Option<Self> {
        if !Path::new("/dev/fuse").exists() {
            eprintln!("skipped: FUSE is not available here (no /dev/fuse)");
            return None;
        }
        std::fs::create_dir_all(at).unwrap();
        let out = match Command::new("bindfs").arg(source).arg(at).output() {
            Ok(out) => out,
            Err(e) => panic!("cannot run bindfs ({e}): apt-get install bindfs (.ci/run does)"),
        };
        if !out.status.success() {
            eprintln!(
                "skipped: FUSE is not available here: bindfs {} {} failed: {}",
                source.display(),
                at.display(),
                String::from_utf8_lossy(&out.stderr).trim()
            );
            return None;
        }
        let dev = rustix::fs::stat(at).unwrap().st_dev;
        Some(Mount {
            path: at.to_owned(),
            device: format!("{}:{}", rustix::fs::major(dev), rustix::fs::minor(dev)),
        })
    }

    /// An ext4 image of `kib` KiB with 1 KiB blocks and no reserved blocks, loop-mounted.
    pub fn ext4(at: &Path, image: &Path, kib: u64) -> Option<Self> {
        std::fs::create_dir_all(at).unwrap();
        let file = std::fs::File::create(image).unwrap();
        file.set_len(kib * 1024).unwrap();
        let made = Command::new("mkfs.ext4")
            .args(["-F", "-q", "-m", "0", "-b", "1024"])
            .arg(image)
            .output();
        match made {
            Ok(out) if out.status.success() => {}
            Ok(out) => panic!("mkfs.ext4 failed: {}", String::from_utf8_lossy(&out.stderr)),
            Err(e) => {
                eprintln!("skipped: mkfs.ext4 is not available ({e})");
                return None;
            }
        }
        mount(&["-t", "ext4", "-o", "loop", image.to_str().unwrap()], at)
    }
}

fn mount(args: &[&str], at: &Path) -> Option<Mount> {
    let out = Command::new("mount")
        .args(args)
        .arg(at)
        .output()
        .expect("run mount");
    if out.status.success() {
        let dev = rustix::fs::stat(at).unwrap().st_dev;
        return Some(Mount {
            path: at.to_owned(),
            device: format!("{}:{}", rustix::fs::major(dev), rustix::fs::minor(dev)),
        });
    }
    let err = String::from_utf8_lossy(&out.stderr);
    let lower = err.to_lowercase();
    if lower.contains("permission denied")
        || lower.contains("operation not permitted")
        || lower.contains("must be superuser")
    {
        eprintln!("skipped: mounting is not permitted here: {err}");
        return None;
    }
    panic!("mount {args:?} {} failed: {err}", at.display());
}

impl Drop for Mount {
    fn drop(&mut self) {
        // Wherever it is now (a checkpoint holding it may have been renamed into the trash).
        let mountinfo = std::fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
        for line in mountinfo.lines() {
            let fields: Vec<&str> = line.split(' ').collect();
            if fields.get(2) == Some(&self.device.as_str()) {
                if let Some(point) = fields.get(4) {
                    let _ = Command::new("umount")
                        .arg(point.replace("\\040", " "))
                        .stderr(std::process::Stdio::null())
                        .status();
                }
            }
        }
        // Quietly: a test may have unmounted it already (at a place it was moved to).
        let ok = Command::new("umount")
            .arg(&self.path)
            .stderr(std::process::Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        if !ok {
            let _ = Command::new("umount")
                .arg("-l")
                .arg(&self.path)
                .stderr(std::process::Stdio::null())
                .status();
        }
    }
}

/// Fills the filesystem holding `dir` until not one more byte can be written.
pub fn fill_bytes(dir: &Path) {
    use std::io::Write;
    let mut n = 0;
    for chunk in [1 << 16, 1 << 12, 1 << 10, 1] {
        loop {
            n += 1;
            let Ok(mut file) = std::fs::File::create(dir.join(format!("filler-{n}"))) else {
                break;
            };
            let written = file
                .write_all(&vec![0u8; chunk])
                .and_then(|()| file.sync_all());
            if written.is_err() {
                break;
            }
        }
    }
    let st = rustix::fs::statvfs(dir).unwrap();
    assert_eq!(st.f_bavail, 0, "{} still has free blocks", dir.display());
}

/// Creates empty files in `dir` until no inode is left.
pub fn fill_inodes(dir: &Path) {
    let mut n = 0;
    while std::fs::File::create(dir.join(format!("i{n}"))).is_ok() {
        n += 1;
    }
    let st = rustix::fs::statvfs(dir).unwrap();
    assert_eq!(st.f_favail, 0, "{} still has free inodes", dir.display());
}
