//! The fleet as real processes for the tests: a nats-server (or a cluster's
//! URLs), a scheduler replica, workers and an ingest, each a `livefleet`
//! process with its log, stopped on drop.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use super::*;

pub struct Fleet {
    pub dir: tempfile::TempDir,
    pub nats_url: String,
    pub rtmp: String,
    pub nats: Option<Proc>,
    pub scheduler: Option<Proc>,
    pub workers: Vec<(String, Proc)>,
    pub ingest: Option<Proc>,
    /// More arguments for every worker added from now on.
    pub worker_args: Vec<String>,
}

impl Fleet {
    pub fn start(workers: &[&str]) -> Fleet {
        let with_urls: Vec<(&str, Option<&str>)> = workers.iter().map(|w| (*w, None)).collect();
        Self::start_with(None, &with_urls)
    }

    /// On the NATS servers `urls` (a cluster) instead of a server of its own;
    /// each worker connects to the URL given with it, or to all of them.
    pub fn start_with(urls: Option<&str>, workers: &[(&str, Option<&str>)]) -> Fleet {
        let dir = tempfile::tempdir().unwrap();
        let port = free_port();
        let mut fleet = Fleet {
            nats_url: urls.map_or_else(|| format!("nats://127.0.0.1:{port}"), str::to_owned),
            rtmp: format!("127.0.0.1:{}", free_port()),
            dir,
            nats: None,
            scheduler: None,
            workers: Vec::new(),
            ingest: None,
            worker_args: Vec::new(),
        };
        if urls.is_none() {
            fleet.start_nats();
        }
        let url = fleet.nats_url.clone();
        fleet.scheduler = Some(Proc::spawn(
            livefleet().args([
                "scheduler",
                "--nats-url",
                &url,
                "--id",
                "s1",
                "--metrics",
                "127.0.0.1:0",
            ]),
            fleet.dir.path().join("scheduler.log"),
        ));
        for (id, url) in workers {
            match url {
                Some(url) => fleet.add_worker_on(id, url),
                None => fleet.add_worker(id),
            }
        }
        fleet.ingest = Some(Proc::spawn(
            livefleet().args([
                "ingest",
                "--nats-url",
                &url,
                "--rtmp",
                &fleet.rtmp,
                "--metrics",
                "127.0.0.1:0",
            ]),
            fleet.dir.path().join("ingest.log"),
        ));
        fleet.wait_for(30, "the scheduler to answer placements", |f| {
            f.scheduler
                .as_ref()
                .unwrap()
                .log()
                .contains("answering placement requests")
        });
        if !workers.is_empty() {
            let ids: Vec<&str> = workers.iter().map(|(id, _)| *id).collect();
            fleet.wait_for_workers(&ids);
        }
        fleet
    }

    pub fn start_nats(&mut self) {
        let port = self.nats_url.rsplit(':').next().unwrap().to_string();
        let store = self.dir.path().join("jetstream");
        self.nats = Some(Proc::spawn(
            Command::new("nats-server").args([
                "-a",
                "127.0.0.1",
                "-p",
                &port,
                "-js",
                "-sd",
                store.to_str().unwrap(),
            ]),
            self.dir.path().join("nats.log"),
        ));
        let deadline = Instant::now() + Duration::from_secs(10);
        while std::net::TcpStream::connect(format!("127.0.0.1:{port}")).is_err() {
            assert!(Instant::now() < deadline, "nats-server did not start");
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    pub fn add_scheduler(&self, id: &str) -> Proc {
        Proc::spawn(
            livefleet().args([
                "scheduler",
                "--nats-url",
                &self.nats_url,
                "--id",
                id,
                "--metrics",
                "127.0.0.1:0",
            ]),
            self.dir.path().join(format!("{id}.log")),
        )
    }

    pub fn add_worker(&mut self, id: &str) {
        let url = self.nats_url.clone();
        self.add_worker_on(id, &url);
    }

    pub fn add_worker_on(&mut self, id: &str, url: &str) {
        self.add_worker_with(id, url, "3");
    }

    /// A worker on `url` whose broadcasts wait `grace` seconds for their publisher.
    pub fn add_worker_with(&mut self, id: &str, url: &str, grace: &str) {
        let data = self.data();
        let proc = Proc::spawn(
            livefleet()
                .args([
                    "worker",
                    "--nats-url",
                    url,
                    "--id",
                    id,
                    "--data",
                    data.to_str().unwrap(),
                    "--grace",
                    grace,
                    "--metrics",
                    "127.0.0.1:0",
                ])
                .args(&self.worker_args),
            self.dir.path().join(format!("{id}.log")),
        );
        self.workers.push((id.to_string(), proc));
    }

    pub fn data(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    pub fn logs(&self) -> String {
        let mut all = String::new();
        for p in [&self.nats, &self.scheduler, &self.ingest]
            .into_iter()
            .flatten()
        {
            all += &format!("--- {}\n{}", p.log.display(), p.log());
        }
        for (id, p) in &self.workers {
            all += &format!("--- {id}\n{}", p.log());
        }
        all
    }

    pub fn wait_for(&self, secs: u64, what: &str, f: impl FnMut(&Fleet) -> bool) {
        if !self.wait_until(secs, f) {
            self.fail(what, secs);
        }
    }

    /// Whether `f` held within `secs` seconds.
    pub fn wait_until(&self, secs: u64, mut f: impl FnMut(&Fleet) -> bool) -> bool {
        let deadline = Instant::now() + Duration::from_secs(secs);
        while !f(self) {
            if Instant::now() >= deadline {
                return false;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        true
    }

    /// Fails the test: `what` did not happen within `secs`; every log follows.
    pub fn fail(&self, what: &str, secs: u64) -> ! {
        panic!(
            "timed out after {secs} s waiting for {what}\n{}",
            self.logs()
        )
    }

    pub fn create_channel(&self, name: &str, key: &str, profile_file: &str) {
        let out = run(livefleet().args([
            "channel",
            "create",
            name,
            "--stream-key",
            key,
            "--profile",
            profile(profile_file).to_str().unwrap(),
            "--nats-url",
            &self.nats_url,
        ]));
        assert!(
            out.status.success(),
            "channel create: {}",
            text(&out.stderr)
        );
    }

    pub fn publish_url(&self, key: &str) -> String {
        format!("rtmp://{}/live/{key}", self.rtmp)
    }

    /// Waits until `fleet status` hears every worker in `ids`: the scheduler,
    /// subscribed to the same heartbeats, has heard them too, so a publish
    /// that follows can be placed.
    pub fn wait_for_workers(&self, ids: &[&str]) {
        self.wait_for(40, "the workers' heartbeats", |f| {
            let out =
                run(livefleet().args(["fleet", "status", "--json", "--nats-url", &f.nats_url]));
            let stdout = text(&out.stdout);
            out.status.success() && ids.iter().all(|id| stdout.contains(&format!("\"{id}\"")))
        });
    }

    /// The worker `fleet status --json` shows running `channel`.
    pub fn owner(&self, channel: &str) -> Option<String> {
        let out =
            run(livefleet().args(["fleet", "status", "--json", "--nats-url", &self.nats_url]));
        if !out.status.success() {
            // A bus that is electing a new leader answers again in a moment.
            eprintln!("fleet status: {}", text(&out.stderr));
            return None;
        }
        let status: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        status["workers"].as_array()?.iter().find_map(|w| {
            w["channels"]
                .as_array()?
                .iter()
                .any(|c| c["channel"] == channel && c["running"] == true)
                .then(|| w["id"].as_str().unwrap().to_string())
        })
    }

    /// SIGTERM to worker `id`, as systemd or Kubernetes stop it; its exit
    /// status, or `None` when it was still running after `secs` (then it is
    /// killed).
    pub fn stop_worker(&mut self, id: &str, secs: u64) -> Option<std::process::ExitStatus> {
        let i = self.workers.iter().position(|(w, _)| w == id).unwrap();
        let (_, mut p) = self.workers.remove(i);
        let _ = Command::new("kill")
            .arg("-TERM")
            .arg(p.child.id().to_string())
            .status();
        let deadline = Instant::now() + Duration::from_secs(secs);
        while Instant::now() < deadline {
            if let Some(status) = p.child.try_wait().unwrap() {
                return Some(status);
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        eprintln!(
            "worker {id} still running {secs} s after SIGTERM; its log:\n{}",
            p.log()
        );
        None
    }

    pub fn kill_worker(&mut self, id: &str) {
        let i = self.workers.iter().position(|(w, _)| w == id).unwrap();
        let (_, mut p) = self.workers.remove(i);
        p.child.kill().unwrap(); // SIGKILL: no goodbye heartbeat, no cleanup
        let _ = p.child.wait();
    }
}

/// The media playlist of `rendition` under the output directory `dir` (empty while absent).
pub fn playlist(dir: &Path, rendition: &str) -> String {
    std::fs::read_to_string(dir.join(rendition).join("index.m3u8")).unwrap_or_default()
}

/// The segment number in a URI like `12-g3.m4s`.
pub fn number(uri: &str) -> u64 {
    uri.split(['-', '.'])
        .next()
        .unwrap()
        .parse()
        .unwrap_or_else(|_| panic!("odd segment URI {uri}"))
}
