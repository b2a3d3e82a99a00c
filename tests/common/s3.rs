//! An S3-compatible server for the tests: `s3s-fs` (which `scripts/setup`
//! installs) over a temporary directory, on a free port, with credentials.

use std::fs;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use super::{free_port, livefleet, run, text};

pub const KEY: &str = "livefleet-test";
pub const SECRET: &str = "livefleet-test-secret-0123456789";

/// An s3s-fs server over a temporary directory (one folder per bucket); killed on drop.
pub struct S3Server {
    child: Option<Child>,
    pub root: tempfile::TempDir,
    pub port: u16,
}

impl S3Server {
    pub fn start(buckets: &[&str]) -> S3Server {
        let root = tempfile::tempdir().unwrap();
        for b in buckets {
            fs::create_dir_all(root.path().join(b)).unwrap();
        }
        let mut server = S3Server {
            child: None,
            root,
            port: free_port(),
        };
        server.resume();
        server
    }

    /// Stops the server (its files stay): the store is unreachable.
    pub fn stop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// Starts the server again on the same port over the same files.
    pub fn resume(&mut self) {
        self.stop();
        let child = Command::new("s3s-fs")
            .args(["--host", "127.0.0.1", "--port", &self.port.to_string()])
            .args(["--access-key", KEY, "--secret-key", SECRET])
            .arg(self.root.path())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("s3s-fs (cargo install --locked s3s-fs@0.14.1 --features binary; scripts/setup does)");
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(10);
        while std::net::TcpStream::connect(("127.0.0.1", self.port)).is_err() {
            assert!(Instant::now() < deadline, "s3s-fs did not listen");
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// The AWS environment of a livefleet process using this server.
    pub fn env(&self) -> Vec<(String, String)> {
        [
            ("AWS_ACCESS_KEY_ID", KEY.to_owned()),
            ("AWS_SECRET_ACCESS_KEY", SECRET.to_owned()),
            ("AWS_REGION", "us-east-1".to_owned()),
            ("AWS_ENDPOINT_URL", self.endpoint()),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v))
        .collect()
    }

    pub fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// Where the server keeps `bucket/key`.
    pub fn path(&self, bucket_and_key: &str) -> PathBuf {
        self.root.path().join(bucket_and_key)
    }

    /// A livefleet command with this server's credentials and endpoint.
    pub fn livefleet(&self) -> Command {
        let mut c = livefleet();
        c.env("AWS_ACCESS_KEY_ID", KEY)
            .env("AWS_SECRET_ACCESS_KEY", SECRET)
            .env("AWS_REGION", "us-east-1")
            .env("AWS_ENDPOINT_URL", self.endpoint())
            .env_remove("AWS_ENDPOINT_URL_S3")
            .env_remove("AWS_PROFILE");
        c
    }

    /// HEAD of an object, signed: the response headers, lower-cased.
    pub fn head(&self, bucket_and_key: &str) -> String {
        let out = run(Command::new("curl")
            .args([
                "-sfI",
                "--max-time",
                "10",
                "--aws-sigv4",
                "aws:amz:us-east-1:s3",
            ])
            .args(["--user", &format!("{KEY}:{SECRET}")])
            .args(["-H", "x-amz-content-sha256: UNSIGNED-PAYLOAD"])
            .arg(format!("{}/{bucket_and_key}", self.endpoint())));
        assert!(out.status.success(), "HEAD {bucket_and_key} failed");
        text(&out.stdout).to_lowercase().replace('\r', "")
    }
}

impl Drop for S3Server {
    fn drop(&mut self) {
        self.stop();
    }
}
