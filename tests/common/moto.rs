//! A real S3-compatible server for the upload tests: moto (PyPI `moto[server]`) on
//! 127.0.0.1, in a virtualenv the harness creates once (`target/test-venv`, or
//! `$CKPTD_TEST_VENV`; `.ci/run` creates it first). Each test starts its own server on a free
//! port and stops it when dropped. Only when Python cannot create the venv are the tests
//! skipped, saying so; with `CKPTD_REQUIRE_MOTO=1` (CI) that fails instead.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::PathBuf;
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use object_store::aws::AmazonS3Builder;
use object_store::path::Path as Key;
use object_store::{ObjectStore, ObjectStoreExt, PutPayload};

/// The venv's python, created on first use; `Err` says why there is none.
fn python() -> Result<PathBuf, String> {
    static PYTHON: OnceLock<Result<PathBuf, String>> = OnceLock::new();
    PYTHON
        .get_or_init(|| {
            let venv = std::env::var_os("CKPTD_TEST_VENV").map_or_else(
                || PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/test-venv"),
                PathBuf::from,
            );
            let python = venv.join("bin/python");
            let ready = venv.join(".ckptd-moto-ready");
            if ready.exists() {
                return Ok(python);
            }
            let made = Command::new("python3")
                .args(["-m", "venv"])
                .arg(&venv)
                .status()
                .map_err(|e| format!("python3: {e}"))?;
            if !made.success() {
                return Err(format!("python3 -m venv {} failed", venv.display()));
            }
            let pip = Command::new(&python)
                .args([
                    "-m",
                    "pip",
                    "install",
                    "--quiet",
                    "moto[server]>=5,<6",
                    "boto3",
                ])
                .status()
                .map_err(|e| format!("pip: {e}"))?;
            if !pip.success() {
                return Err("pip install moto[server] boto3 failed".to_owned());
            }
            std::fs::write(&ready, "").map_err(|e| e.to_string())?;
            Ok(python)
        })
        .clone()
}

/// A running moto server.
pub struct Moto {
    child: Child,
    /// Held open: the server stops when it closes.
    stdin: Option<ChildStdin>,
    pub port: u16,
}

impl Moto {
    /// A server on a free port; `None` (after saying why) when Python cannot make the venv.
    pub fn start() -> Option<Self> {
        match python() {
            Ok(_) => Some(Self::start_on(0)),
            Err(why) => {
                assert!(
                    std::env::var_os("CKPTD_REQUIRE_MOTO").is_none(),
                    "CKPTD_REQUIRE_MOTO is set, but there is no moto: {why}"
                );
                eprintln!(
                    "SKIPPED: no S3 test server, because Python cannot create its venv: {why}"
                );
                None
            }
        }
    }

    /// A server on `port` (0: a free one); a restart on the same port starts empty.
    pub fn start_on(port: u16) -> Self {
        let script =
            PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/moto_server.py");
        let mut child = Command::new(python().unwrap())
            .arg(script)
            .arg(port.to_string())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("start moto");
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let port: u16 = line
            .trim()
            .parse()
            .unwrap_or_else(|_| panic!("moto said {line:?}"));
        let moto = Self {
            stdin: child.stdin.take(),
            child,
            port,
        };
        moto.wait_ready();
        moto
    }

    fn wait_ready(&self) {
        let start = Instant::now();
        while self.request("GET", "/moto-api/data.json", "").0 != 200 {
            assert!(start.elapsed() < Duration::from_secs(30), "moto not ready");
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// One plain HTTP request; the status and body. Status 0: no connection.
    pub fn request(&self, method: &str, path: &str, body: &str) -> (u16, String) {
        let Ok(mut stream) = TcpStream::connect(("127.0.0.1", self.port)) else {
            return (0, String::new());
        };
        let _ = write!(
            stream,
            "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1:{}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            self.port,
            body.len()
        );
        let mut response = String::new();
        let _ = stream.read_to_string(&mut response);
        let status = response
            .split_whitespace()
            .nth(1)
            .and_then(|s| s.parse().ok())
            .unwrap_or(0);
        (status, response)
    }

    pub fn create_bucket(&self, bucket: &str) {
        let (status, response) = self.request("PUT", &format!("/{bucket}"), "");
        assert_eq!(status, 200, "create bucket {bucket}: {response}");
    }

    /// From now on, requests must be signed with credentials moto knows: the test's are not.
    pub fn require_auth(&self) {
        let (status, response) = self.request("POST", "/moto-api/reset-auth", "0");
        assert_eq!(status, 200, "{response}");
    }

    pub fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// The ordinary AWS environment pointing at this server.
    pub fn env(&self) -> Vec<(&'static str, String)> {
        vec![
            ("AWS_ACCESS_KEY_ID", "testing".to_owned()),
            ("AWS_SECRET_ACCESS_KEY", "testing".to_owned()),
            ("AWS_REGION", "us-east-1".to_owned()),
            ("AWS_ENDPOINT_URL", self.endpoint()),
        ]
    }

    /// A client of `bucket` for the test's own looks and changes.
    pub fn bucket(&self, bucket: &str) -> Bucket {
        let store = AmazonS3Builder::new()
            .with_endpoint(self.endpoint())
            .with_allow_http(true)
            .with_region("us-east-1")
            .with_access_key_id("testing")
            .with_secret_access_key("testing")
            .with_bucket_name(bucket)
            .build()
            .unwrap();
        Bucket {
            store: Arc::new(store),
            runtime: tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap(),
        }
    }

    /// Stops the server (as if it went away); its state is lost.
    pub fn stop(mut self) {
        self.kill();
    }

    fn kill(&mut self) {
        drop(self.stdin.take());
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Moto {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Blocking looks at a bucket.
pub struct Bucket {
    store: Arc<dyn ObjectStore>,
    runtime: tokio::runtime::Runtime,
}

impl Bucket {
    /// Every key with its size, sorted; empty when the server cannot be asked.
    pub fn keys(&self) -> Vec<(String, u64)> {
        use futures::TryStreamExt;
        let listed: Result<Vec<_>, _> = self
            .runtime
            .block_on(self.store.list(None).try_collect::<Vec<_>>());
        let mut keys: Vec<(String, u64)> = listed
            .unwrap_or_default()
            .into_iter()
            .map(|m| (m.location.to_string(), m.size))
            .collect();
        keys.sort();
        keys
    }

    pub fn has(&self, key: &str) -> bool {
        self.keys().iter().any(|(k, _)| k == key)
    }

    pub fn get(&self, key: &str) -> Vec<u8> {
        self.runtime.block_on(async {
            self.store
                .get(&Key::from(key))
                .await
                .unwrap()
                .bytes()
                .await
                .unwrap()
                .to_vec()
        })
    }

    pub fn put(&self, key: &str, body: Vec<u8>) {
        self.runtime
            .block_on(self.store.put(&Key::from(key), PutPayload::from(body)))
            .unwrap();
    }
}
