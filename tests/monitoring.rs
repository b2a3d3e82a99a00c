//! The dashboards and alerts in `monitoring/` against a running system: a
//! real Prometheus (Debian's `prometheus`) scrapes `livefleet dev` and a small
//! fleet (nats-server, a scheduler, a worker, an ingest, ffmpeg publishing),
//! loads the alert rules, and answers every panel query and alert expression.
//! `promtool` checks the rules and runs their unit tests.

mod common;

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::*;
use serde_json::Value;

/// A child process logging to a file; killed on drop.
struct Proc(Child);

impl Proc {
    fn spawn(cmd: &mut Command, log: &Path) -> Proc {
        let child = cmd
            .env("RUST_LOG", "info")
            .stdout(Stdio::null())
            .stderr(fs::File::create(log).unwrap())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {cmd:?}: {e}"));
        Proc(child)
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn monitoring() -> PathBuf {
    repo().join("monitoring")
}

fn wait_port(port: u16, what: &str, log: &Path) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            Instant::now() < deadline,
            "{what} did not listen on {port}: {}",
            fs::read_to_string(log).unwrap_or_default()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Prometheus's HTTP API: GET `path` with `params` (URL-encoded by curl).
fn api(base: &str, path: &str, params: &[(&str, &str)]) -> Value {
    let mut cmd = Command::new("curl");
    cmd.args(["-s", "--max-time", "10", "-G"]);
    for (k, v) in params {
        cmd.arg("--data-urlencode").arg(format!("{k}={v}"));
    }
    let out = run(cmd.arg(format!("{base}{path}")));
    serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("{path}: not JSON ({e}): {}", text(&out.stdout)))
}

/// Every panel of every dashboard: (dashboard, panel title, description, target expressions).
fn panels() -> Vec<(String, String, String, Vec<String>)> {
    let mut all = Vec::new();
    let dir = monitoring().join("grafana/dashboards");
    for entry in fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        let d: Value = serde_json::from_str(&fs::read_to_string(&path).unwrap())
            .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let name = d["title"].as_str().unwrap_or_default().to_string();
        assert!(d["uid"].is_string(), "{name}: no uid");
        let mut ids = std::collections::HashSet::new();
        for p in d["panels"].as_array().expect("panels") {
            assert!(ids.insert(p["id"].as_u64()), "{name}: panel id twice");
            let exprs: Vec<String> = p["targets"]
                .as_array()
                .expect("targets")
                .iter()
                .map(|t| t["expr"].as_str().expect("expr").to_string())
                .collect();
            assert!(!exprs.is_empty(), "{name}: a panel without a query");
            all.push((
                name.clone(),
                p["title"].as_str().unwrap_or_default().to_string(),
                p["description"].as_str().unwrap_or_default().to_string(),
                exprs,
            ));
        }
    }
    all
}

/// Grafana's variables as a test system has them: every channel, a short rate window.
fn resolve(expr: &str) -> String {
    expr.replace("$__rate_interval", "20s")
        .replace("$channel", ".+")
}

#[test]
fn alert_rules_pass_promtool_and_their_unit_tests() {
    let dir = monitoring().join("prometheus");
    let check = run(Command::new("promtool")
        .args(["check", "rules", "alerts.yml"])
        .current_dir(&dir));
    assert!(check.status.success(), "{}", text(&check.stdout));
    let tests = run(Command::new("promtool")
        .args(["test", "rules", "alerts.test.yml"])
        .current_dir(&dir));
    assert!(
        tests.status.success(),
        "{}{}",
        text(&tests.stdout),
        text(&tests.stderr)
    );
    // Every alert has at least one unit test.
    let rules = fs::read_to_string(dir.join("alerts.yml")).unwrap();
    let unit = fs::read_to_string(dir.join("alerts.test.yml")).unwrap();
    for line in rules.lines() {
        if let Some(name) = line.trim().strip_prefix("- alert:") {
            let name = name.trim();
            assert!(
                unit.contains(&format!("alertname: {name}")),
                "alert {name} has no promtool test"
            );
        }
    }
}

#[test]
fn every_panel_and_alert_answers_from_a_running_system() {
    let dir = tempfile::tempdir().unwrap();
    let nats_port = free_port();
    let nats_url = format!("nats://127.0.0.1:{nats_port}");
    let _nats = Proc::spawn(
        Command::new("nats-server").args([
            "-a",
            "127.0.0.1",
            "-p",
            &nats_port.to_string(),
            "-js",
            "-sd",
            dir.path().join("js").to_str().unwrap(),
        ]),
        &dir.path().join("nats.log"),
    );
    wait_port(nats_port, "nats-server", &dir.path().join("nats.log"));
    let (sched_m, worker_m, ingest_m, rtmp) = (free_port(), free_port(), free_port(), free_port());
    let addr = |p: u16| format!("127.0.0.1:{p}");
    let _scheduler = Proc::spawn(
        livefleet()
            .args(["scheduler", "--nats-url", &nats_url, "--id", "s1"])
            .args(["--metrics", &addr(sched_m), "--http", &addr(free_port())]),
        &dir.path().join("scheduler.log"),
    );
    let _worker = Proc::spawn(
        livefleet()
            .args(["worker", "--nats-url", &nats_url, "--id", "w1", "--data"])
            .arg(dir.path().join("data"))
            .args(["--metrics", &addr(worker_m), "--status-every", "5"]),
        &dir.path().join("worker.log"),
    );
    let _ingest = Proc::spawn(
        livefleet().args(["ingest", "--nats-url", &nats_url]).args([
            "--rtmp",
            &addr(rtmp),
            "--metrics",
            &addr(ingest_m),
        ]),
        &dir.path().join("ingest.log"),
    );
    let created = run(livefleet().args([
        "channel",
        "create",
        "fleetch",
        "--stream-key",
        "fleetkey",
        "--profile",
        profile("cpu-small.yaml").to_str().unwrap(),
        "--nats-url",
        &nats_url,
    ]));
    assert!(created.status.success(), "{}", text(&created.stderr));
    let dev = Dev::start("demo", &["--demo-source", "--status-every", "5"]);
    let dev_http = dev.http.trim_start_matches("http://").to_string();

    let prom_port = free_port();
    let config = format!(
        "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\nrule_files:\n  - {rules}\nscrape_configs:\n\
         - job_name: livefleet-dev\n  static_configs:\n  - targets: ['{dev_http}']\n\
         - job_name: livefleet-scheduler\n  static_configs:\n  - targets: ['{s}']\n\
         - job_name: livefleet-worker\n  static_configs:\n  - targets: ['{w}']\n\
         - job_name: livefleet-ingest\n  static_configs:\n  - targets: ['{i}']\n",
        rules = monitoring().join("prometheus/alerts.yml").display(),
        s = addr(sched_m),
        w = addr(worker_m),
        i = addr(ingest_m),
    );
    let config_path = dir.path().join("prometheus.yml");
    fs::write(&config_path, config).unwrap();
    let _prometheus = Proc::spawn(
        Command::new("prometheus")
            .arg(format!("--config.file={}", config_path.display()))
            .arg(format!(
                "--storage.tsdb.path={}",
                dir.path().join("tsdb").display()
            ))
            .arg(format!("--web.listen-address=127.0.0.1:{prom_port}"))
            .arg("--log.level=warn"),
        &dir.path().join("prometheus.log"),
    );
    let prom = format!("http://127.0.0.1:{prom_port}");
    wait_port(prom_port, "prometheus", &dir.path().join("prometheus.log"));

    // A publisher on the fleet: a placement, a running channel on the fleet's worker.
    dev.wait_for(60, "the scheduler to lead", || {
        fs::read_to_string(dir.path().join("scheduler.log"))
            .unwrap_or_default()
            .contains("answering placement requests")
    });
    let _publisher = Publisher::ffmpeg(&format!("rtmp://{}/live/fleetkey", addr(rtmp)), 60);
    dev.wait_for(60, "dev's first segments", || {
        http_get(&dev.url("master.m3u8")).0 == 200
    });
    let fleet_playlist = dir.path().join("data/live/fleetch/master.m3u8");
    dev.wait_for(60, "the fleet channel's first segments", || {
        fleet_playlist.exists()
    });
    // Viewers on the origin, so its request counters have series.
    for path in ["master.m3u8", "manifest.mpd", "240p/index.m3u8"] {
        http_get(&dev.url(path));
    }
    dev.wait_for(30, "every target to be scraped", || {
        let t = api(&prom, "/api/v1/targets", &[]);
        let active = t["data"]["activeTargets"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        active.len() == 4 && active.iter().all(|t| t["health"] == "up")
    });
    // Enough samples for 20 s rate windows.
    std::thread::sleep(Duration::from_secs(22));

    let gpus = api(
        &prom,
        "/api/v1/query",
        &[("query", "max(livefleet_worker_gpus)")],
    );
    let gpu_present = gpus["data"]["result"][0]["value"][1].as_str() == Some("1");
    let mut empty = Vec::new();
    let mut checked = 0;
    for (dashboard, title, description, exprs) in panels() {
        let mut rows = 0;
        for expr in &exprs {
            let q = resolve(expr);
            let r = api(&prom, "/api/v1/query", &[("query", &q)]);
            assert_eq!(
                r["status"], "success",
                "{dashboard} / {title}: {q} does not evaluate: {r}"
            );
            rows += r["data"]["result"].as_array().map_or(0, Vec::len);
        }
        checked += 1;
        // GPU-only panels have nothing to show on a fleet without GPUs (livefleet_worker_gpus 0).
        let may_be_empty = description.starts_with("GPU nodes only") && !gpu_present;
        if rows == 0 && !may_be_empty {
            empty.push(format!("{dashboard} / {title}: {exprs:?}"));
        }
    }
    assert!(checked >= 25, "only {checked} panels");
    assert!(
        empty.is_empty(),
        "panels without data from the running system:\n{}",
        empty.join("\n")
    );

    // Every alert expression evaluates, and Prometheus evaluates every rule without error.
    let rules = api(&prom, "/api/v1/rules", &[]);
    let mut alerts = 0;
    for group in rules["data"]["groups"].as_array().expect("rule groups") {
        for rule in group["rules"].as_array().unwrap() {
            let name = rule["name"].as_str().unwrap_or_default();
            assert_eq!(rule["health"], "ok", "{name}: {rule}");
            let r = api(
                &prom,
                "/api/v1/query",
                &[("query", rule["query"].as_str().unwrap())],
            );
            assert_eq!(r["status"], "success", "{name}: {r}");
            // A healthy system: no alert is on its way to firing.
            assert_eq!(
                rule["state"], "inactive",
                "{name} is {}: {rule}",
                rule["state"]
            );
            alerts += 1;
        }
    }
    let in_file = fs::read_to_string(monitoring().join("prometheus/alerts.yml"))
        .unwrap()
        .matches("- alert:")
        .count();
    assert_eq!(
        alerts, in_file,
        "Prometheus loaded {alerts} of {in_file} alerts"
    );

    // The scheduler's autoscaling signal and the fleet channel's health are there.
    for q in [
        "livefleet_scheduler_free_capacity_pixels_per_second{encoder=\"x264\"} > 0",
        "livefleet_scheduler_placements_total{result=\"placed\"} > 0",
        "livefleet_worker_frames_encoded_total{channel=\"fleetch\"} > 0",
        "livefleet_worker_segment_duration_seconds_count{job=\"livefleet-worker\"} > 0",
        "livefleet_ingest_publishers{job=\"livefleet-ingest\"} == 1",
    ] {
        let r = api(&prom, "/api/v1/query", &[("query", q)]);
        assert!(
            r["data"]["result"]
                .as_array()
                .is_some_and(|a| !a.is_empty()),
            "{q}: no result: {r}"
        );
    }

    // Both running channels log their status lines, with their renditions' encode speed
    // (measured after a channel's first 2 s, so not in every line).
    let worker_log = fs::read_to_string(dir.path().join("worker.log")).unwrap();
    for (log, channel) in [(dev.log(), "demo"), (worker_log, "fleetch")] {
        let lines: Vec<&str> = log
            .lines()
            .filter(|l| l.contains("live status") && l.contains(&format!("channel={channel}")))
            .collect();
        assert!(
            lines.iter().any(|l| {
                [
                    "rate=",
                    "publishing=",
                    "fps=",
                    "segments=",
                    "encode_speed=",
                    "360p ",
                    "240p ",
                ]
                .iter()
                .all(|field| l.contains(field))
            }),
            "no full status line of {channel}: {lines:#?}\n{log}"
        );
    }
}
