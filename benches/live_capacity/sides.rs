//! The two sides of the live capacity bench: livefleet (nats-server, one
//! ingest, one worker) and the ffmpeg CLI (nginx-rtmp, one ffmpeg per
//! channel), each fed by `ffmpeg -re -c copy` publishers.

use crate::common::Killed;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

pub fn spawn(cmd: &mut Command, what: &str) -> Killed {
    Killed(
        cmd.stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("{what}: {e}")),
    )
}

/// Waits until something listens on 127.0.0.1:`port` (at most 30 s): a
/// publisher started before its server listens fails at once, and its
/// channel would be counted as running.
fn wait_for_port(port: u16, what: &str) {
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            std::time::Instant::now() < deadline,
            "{what} does not listen on {port}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn livefleet() -> Command {
    Command::new(env!("CARGO_BIN_EXE_livefleet"))
}

/// Publishes `clip` to `url` at real time, looped.
fn publisher(clip: &Path, url: &str) -> Killed {
    spawn(
        Command::new("ffmpeg")
            .args([
                "-hide_banner",
                "-loglevel",
                "error",
                "-re",
                "-stream_loop",
                "-1",
                "-i",
            ])
            .arg(clip)
            .args(["-c", "copy", "-f", "flv", url]),
        "publisher",
    )
}

/// One side of the comparison: adds a channel, says where its segments land.
pub trait Side {
    fn name(&self) -> &'static str;
    /// Adds channel `n`, published from `clip`; the directories of its
    /// renditions' segments (every one is watched: a rendition that falls
    /// behind is a channel that does).
    fn add(&mut self, n: usize, clip: &Path) -> Vec<PathBuf>;
    /// The processes doing the side's work (not the publishers).
    fn service_pids(&self) -> Vec<u32>;
}

pub struct Ours {
    nats_url: String,
    rtmp: u16,
    data: PathBuf,
    profile: PathBuf,
    services: Vec<Killed>,
    publishers: Vec<Killed>,
}

impl Ours {
    /// nats-server, `livefleet ingest --no-scheduler` and one `livefleet
    /// worker --all-channels`, with their state under `dir`.
    pub fn start(dir: &Path, profile: &Path) -> Self {
        std::fs::create_dir_all(dir).unwrap();
        let nats_port = crate::common::free_port();
        let nats = spawn(
            Command::new("nats-server")
                .args(["-a", "127.0.0.1", "-p", &nats_port.to_string(), "-js"])
                .arg("-sd")
                .arg(dir.join("nats")),
            "nats-server",
        );
        wait_for_port(nats_port, "nats-server");
        let nats_url = format!("nats://127.0.0.1:{nats_port}");
        let rtmp = crate::common::free_port();
        let data = dir.join("out");
        let ingest = spawn(
            livefleet()
                .args(["ingest", "--no-scheduler", "--nats-url", &nats_url])
                .args(["--rtmp", &format!("127.0.0.1:{rtmp}")])
                .args(["--metrics", "127.0.0.1:0"]),
            "livefleet ingest",
        );
        let worker = spawn(
            livefleet()
                .args(["worker", "--all-channels", "--nats-url", &nats_url])
                .arg("--data")
                .arg(&data),
            "livefleet worker",
        );
        wait_for_port(rtmp, "livefleet ingest");
        Self {
            nats_url,
            rtmp,
            data,
            profile: profile.to_owned(),
            services: vec![nats, ingest, worker],
            publishers: Vec::new(),
        }
    }
}

impl Side for Ours {
    fn name(&self) -> &'static str {
        "livefleet (1 worker)"
    }

    fn add(&mut self, n: usize, clip: &Path) -> Vec<PathBuf> {
        let key = format!("capacity-key-{n:04}");
        let ok = livefleet()
            .args([
                "channel",
                "create",
                &format!("ch{n}"),
                "--nats-url",
                &self.nats_url,
            ])
            .args(["--stream-key", &key])
            .arg("--profile")
            .arg(&self.profile)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .expect("livefleet channel create")
            .success();
        assert!(ok, "channel create failed");
        std::thread::sleep(Duration::from_millis(500));
        self.publishers.push(publisher(
            clip,
            &format!("rtmp://127.0.0.1:{}/live/{key}", self.rtmp),
        ));
        let channel = self.data.join(format!("live/ch{n}"));
        ["360p", "240p", "audio"]
            .iter()
            .map(|r| channel.join(r))
            .collect()
    }

    fn service_pids(&self) -> Vec<u32> {
        self.services.iter().map(|k| k.0.id()).collect()
    }
}

pub struct Cli {
    rtmp: u16,
    out: PathBuf,
    nginx: Killed,
    transcoders: Vec<Killed>,
    publishers: Vec<Killed>,
}

impl Cli {
    /// nginx-rtmp relaying on a free port, its files and outputs under `dir`.
    pub fn start(dir: &Path) -> Self {
        std::fs::create_dir_all(dir).unwrap();
        let port = crate::common::free_port();
        let conf = dir.join("nginx.conf");
        std::fs::write(
            &conf,
            format!(
                "load_module /usr/lib/nginx/modules/ngx_rtmp_module.so;\ndaemon off;\nmaster_process off;\npid {d}/nginx.pid;\nerror_log {d}/nginx-error.log;\nevents {{ worker_connections 256; }}\nrtmp {{ server {{ listen 127.0.0.1:{port}; application live {{ live on; }} }} }}\n",
                d = dir.display()
            ),
        )
        .unwrap();
        let nginx = spawn(
            Command::new("nginx")
                .arg("-c")
                .arg(&conf)
                .arg("-p")
                .arg(dir),
            "nginx (apt-get install nginx-light libnginx-mod-rtmp)",
        );
        wait_for_port(port, "nginx-rtmp");
        Self {
            rtmp: port,
            out: dir.join("out"),
            nginx,
            transcoders: Vec::new(),
            publishers: Vec::new(),
        }
    }
}

impl Side for Cli {
    fn name(&self) -> &'static str {
        "ffmpeg CLI per channel"
    }

    fn add(&mut self, n: usize, clip: &Path) -> Vec<PathBuf> {
        let url = format!("rtmp://127.0.0.1:{}/live/ch{n}", self.rtmp);
        self.publishers.push(publisher(clip, &url));
        std::thread::sleep(Duration::from_millis(700));
        let out = self.out.join(format!("ch{n}"));
        std::fs::create_dir_all(out.join("v0")).unwrap();
        std::fs::create_dir_all(out.join("v1")).unwrap();
        let o = out.display();
        self.transcoders.push(spawn(
            Command::new("ffmpeg")
                .args(["-hide_banner", "-loglevel", "error", "-i", &url])
                .args([
                    "-filter_complex",
                    "[0:v]split=2[a][b];[a]scale=640:360[v0];[b]scale=426:240[v1]",
                ])
                .args(["-map", "[v0]", "-map", "[v1]", "-map", "0:a"])
                .args([
                    "-c:v",
                    "libx264",
                    "-preset",
                    "ultrafast",
                    "-profile:v",
                    "main",
                ])
                .args(["-b:v:0", "730k", "-b:v:1", "300k"])
                .args(["-g", "60", "-keyint_min", "60", "-sc_threshold", "0"])
                .args(["-c:a", "aac", "-b:a", "96k", "-ar", "48000", "-ac", "2"])
                .args(["-f", "hls", "-hls_time", "2", "-hls_list_size", "6"])
                .args(["-hls_segment_type", "fmp4"])
                .args(["-var_stream_map", "v:0,a:0 v:1"])
                .args(["-hls_segment_filename", &format!("{o}/v%v/%d.m4s")])
                .arg(format!("{o}/v%v/index.m3u8")),
            "ffmpeg CLI",
        ));
        // v0 carries the 360p video and the audio, v1 the 240p.
        vec![out.join("v0"), out.join("v1")]
    }

    fn service_pids(&self) -> Vec<u32> {
        std::iter::once(&self.nginx)
            .chain(&self.transcoders)
            .map(|k| k.0.id())
            .collect()
    }
}
