//! `livefleet dev` and RTMP publishers as child processes, stopped on drop.

use std::os::unix::process::CommandExt;

use super::*;

/// `livefleet dev` on free ports with a temporary data directory; stopped on drop.
pub struct Dev {
    /// Dropped first (after dev stopped), before `data` is removed.
    _guard: Box<dyn std::any::Any>,
    pub child: std::process::Child,
    pub data: tempfile::TempDir,
    pub publish_url: String,
    pub http: String,
    /// The chat relay's WebSocket URL, and a moderator token for it.
    pub chat: String,
    pub chat_token: String,
    pub channel: String,
    pub log: PathBuf,
}

impl Dev {
    /// Starts dev for `channel` with the small profile, waits for its addresses.
    pub fn start(channel: &str, extra: &[&str]) -> Dev {
        Self::start_with_store(channel, extra, |_| ())
    }

    /// As [`Dev::start`], with `prepare` run on the storage directory
    /// first; what it returns (a mount, say) lives as long as the `Dev`
    /// and is dropped after dev has stopped.
    pub fn start_with_store<G: 'static>(
        channel: &str,
        extra: &[&str],
        prepare: impl FnOnce(&Path) -> G,
    ) -> Dev {
        Self::start_full(channel, extra, &[], prepare)
    }

    /// As [`Dev::start`], with these environment variables (the AWS ones of an S3 store).
    pub fn start_env(channel: &str, extra: &[&str], env: &[(String, String)]) -> Dev {
        Self::start_full(channel, extra, env, |_| ())
    }

    fn start_full<G: 'static>(
        channel: &str,
        extra: &[&str],
        env: &[(String, String)],
        prepare: impl FnOnce(&Path) -> G,
    ) -> Dev {
        let data = tempfile::tempdir().unwrap();
        let guard: Box<dyn std::any::Any> = Box::new(prepare(&data.path().join("store")));
        let log = data.path().join("dev.log");
        let started = launch(&data.path().join("store"), channel, extra, env, &log);
        Dev {
            child: started.child,
            data,
            publish_url: started.publish_url,
            http: started.http,
            chat: started.chat,
            chat_token: started.chat_token,
            channel: channel.into(),
            log,
            _guard: guard,
        }
    }

    /// Kills dev at once (SIGKILL: nothing of it gets to finish), as a
    /// crashed or powered-off machine would stop it.
    pub fn kill_now(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Kills dev at once and starts it again on the same data directory
    /// with `extra`; its log goes on in the same file.
    pub fn restart(&mut self, extra: &[&str]) {
        self.kill_now();
        let started = launch(
            &self.data.path().join("store"),
            &self.channel,
            extra,
            &[],
            &self.log,
        );
        self.child = started.child;
        self.publish_url = started.publish_url;
        self.http = started.http;
        self.chat = started.chat;
        self.chat_token = started.chat_token;
    }

    /// The storage directory of this channel.
    pub fn channel_dir(&self) -> PathBuf {
        self.data
            .path()
            .join("store")
            .join("live")
            .join(&self.channel)
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}/live/{}/{}", self.http, self.channel, path)
    }

    pub fn log(&self) -> String {
        fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// The RTMP URL with another stream key.
    pub fn publish_url_with_key(&self, key: &str) -> String {
        let base = self.publish_url.rsplit_once('/').unwrap().0;
        format!("{base}/{key}")
    }

    /// Waits until `f` holds, up to `secs`.
    pub fn wait_for(&self, secs: u64, what: &str, mut f: impl FnMut() -> bool) {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(secs);
        while std::time::Instant::now() < deadline {
            if f() {
                return;
            }
            std::thread::sleep(std::time::Duration::from_millis(200));
        }
        panic!(
            "timed out after {secs} s waiting for {what}\n--- dev log ---\n{}",
            self.log()
        );
    }
}

impl Dev {
    /// Stops dev as an operator does (SIGTERM: it ends its broadcasts and
    /// stops its children itself); its exit status, or `None` when it had
    /// not stopped after 15 s and was killed.
    pub fn stop(&mut self) -> Option<std::process::ExitStatus> {
        if let Ok(Some(status)) = self.child.try_wait() {
            return Some(status);
        }
        unsafe_terminate(self.child.id());
        self.exit_within_15_s()
    }

    /// Ctrl-C in the terminal dev runs in: SIGINT to its whole process
    /// group, its children included. Its exit status, or `None` when it had
    /// not stopped after 15 s and was killed.
    pub fn interrupt(&mut self) -> Option<std::process::ExitStatus> {
        let _ = Command::new("kill")
            .args(["-INT", "--"])
            .arg(format!("-{}", self.child.id()))
            .status();
        self.exit_within_15_s()
    }

    /// Dev's exit status once it exits, or `None` when it is still running
    /// after 15 s (it is killed then).
    fn exit_within_15_s(&mut self) -> Option<std::process::ExitStatus> {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(15);
        while std::time::Instant::now() < deadline {
            if let Ok(Some(status)) = self.child.try_wait() {
                return Some(status);
            }
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
        None
    }
}

impl Drop for Dev {
    fn drop(&mut self) {
        self.stop();
    }
}

/// A dev process that has printed its addresses.
struct Launched {
    child: std::process::Child,
    publish_url: String,
    http: String,
    chat: String,
    chat_token: String,
}

/// Starts dev on `store` and reads its addresses; the log is appended to `log`.
fn launch(
    store: &Path,
    channel: &str,
    extra: &[&str],
    env: &[(String, String)],
    log: &Path,
) -> Launched {
    use std::io::BufRead;
    let log_file = fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(log)
        .unwrap();
    let mut child = livefleet()
        .args([
            "dev",
            "--rtmp",
            "127.0.0.1:0",
            "--http",
            "127.0.0.1:0",
            "--chat",
            "127.0.0.1:0",
            "--channel",
            channel,
        ])
        .arg("--data")
        .arg(store)
        .args(if extra.contains(&"--profile") {
            vec![]
        } else {
            vec!["--profile".into(), profile("cpu-small.yaml")]
        })
        .args(extra)
        .envs(env.iter().map(|(k, v)| (k, v)))
        .env(
            "RUST_LOG",
            std::env::var("LIVEFLEET_TEST_LOG").unwrap_or_else(|_| "info".into()),
        )
        .stdout(std::process::Stdio::piped())
        .stderr(log_file)
        // A process group of its own, as a shell gives a job: Ctrl-C
        // ([`Dev::interrupt`]) reaches dev and whatever it started, as in a terminal.
        .process_group(0)
        .spawn()
        .expect("start livefleet dev");
    let stdout = child.stdout.take().unwrap();
    let mut started = Launched {
        child,
        publish_url: String::new(),
        http: String::new(),
        chat: String::new(),
        chat_token: String::new(),
    };
    let mut lines = std::io::BufReader::new(stdout).lines();
    for line in lines.by_ref() {
        let line = line.unwrap_or_default();
        let line = line.trim();
        if let Some(u) = line.strip_prefix("publish:") {
            started.publish_url = u.trim().to_string();
        }
        if let Some(u) = line.strip_prefix("HLS:") {
            started.http = u
                .trim()
                .split("/live/")
                .next()
                .unwrap_or_default()
                .to_string();
        }
        if let Some(u) = line.strip_prefix("chat:") {
            started.chat = u.trim().to_string();
        }
        if let Some(t) = line.strip_prefix("token:") {
            started.chat_token = t.split_whitespace().next().unwrap_or_default().to_string();
        }
        if line.starts_with("data:") {
            break;
        }
    }
    // Keep reading, so the process never writes into a closed pipe.
    std::thread::spawn(move || lines.for_each(drop));
    assert!(
        !started.http.is_empty(),
        "dev did not start: {}",
        fs::read_to_string(log).unwrap_or_default()
    );
    started
}

fn unsafe_terminate(pid: u32) {
    let _ = Command::new("kill")
        .arg("-TERM")
        .arg(pid.to_string())
        .status();
}

/// An RTMP publisher child process (ffmpeg or GStreamer), killed on drop.
pub struct Publisher(pub std::process::Child);

impl Publisher {
    /// ffmpeg publishing `secs` of 640x360 30 fps, 2 s GOP, AAC, at real time.
    pub fn ffmpeg(url: &str, secs: u32) -> Publisher {
        Self::ffmpeg_audio(url, secs, 48_000)
    }

    /// As [`Publisher::ffmpeg`], with audio at `sample_rate`.
    pub fn ffmpeg_audio(url: &str, secs: u32, sample_rate: u32) -> Publisher {
        let sine = format!("sine=frequency=440:sample_rate={sample_rate}");
        let child = Command::new("ffmpeg")
            .args(["-hide_banner", "-loglevel", "error", "-re"])
            .args([
                "-f",
                "lavfi",
                "-i",
                "testsrc2=size=640x360:rate=30",
                "-f",
                "lavfi",
                "-i",
                &sine,
            ])
            .args(["-t", &secs.to_string()])
            .args([
                "-c:v",
                "libx264",
                "-preset",
                "ultrafast",
                "-bf",
                "2",
                "-g",
                "60",
                "-keyint_min",
                "60",
                "-sc_threshold",
                "0",
                "-pix_fmt",
                "yuv420p",
            ])
            .args(["-c:a", "aac", "-b:a", "128k", "-f", "flv", url])
            .stdin(std::process::Stdio::null())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("ffmpeg");
        Publisher(child)
    }

    /// Waits for the end; returns (success, stderr).
    pub fn finish(mut self) -> (bool, String) {
        let status = self.0.wait().expect("wait");
        let mut err = String::new();
        if let Some(mut e) = self.0.stderr.take() {
            use std::io::Read;
            let _ = e.read_to_string(&mut err);
        }
        (status.success(), err)
    }

    pub fn kill(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

impl Drop for Publisher {
    fn drop(&mut self) {
        self.kill();
    }
}
