//! Webhooks end to end: `livefleet dev` with `--webhook-url` posts a
//! broadcast's start, its end and its VOD copy to a receiver on a loopback
//! port, signed, retried after a failed answer, in order.

// The admin API's client and its checks against the OpenAPI description.
#[allow(dead_code)]
#[path = "admin/client.rs"]
mod client;
mod common;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::process::{Child, Command};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::*;
use serde_json::Value;

/// One request the receiver got, and the status it answered.
#[derive(Debug, Clone)]
struct Received {
    at: Instant,
    headers: Vec<(String, String)>,
    body: String,
    status: u16,
}

impl Received {
    fn header(&self, name: &str) -> &str {
        self.headers
            .iter()
            .find(|(k, _)| k == name)
            .map_or("", |(_, v)| v.as_str())
    }

    fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("{e}: {}", self.body))
    }
}

/// The status a receiver answers to a request, given those before it.
type Answer = fn(&Received, &[Received]) -> u16;

/// Answers 200 to everything.
fn always_ok(_: &Received, _: &[Received]) -> u16 {
    200
}

/// Answers 500 to the first `broadcast.started`, 200 to the rest.
fn fail_first_start(r: &Received, before: &[Received]) -> u16 {
    let started = |r: &Received| r.header("livefleet-event-type") == "broadcast.started";
    if started(r) && !before.iter().any(started) {
        500
    } else {
        200
    }
}

/// A webhook receiver that keeps what it got and answers as `answer` says.
fn receiver(answer: Answer) -> (String, Arc<Mutex<Vec<Received>>>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/hooks", listener.local_addr().unwrap());
    let got: Arc<Mutex<Vec<Received>>> = Arc::default();
    let keep = got.clone();
    std::thread::spawn(move || {
        for conn in listener.incoming() {
            let Ok(conn) = conn else { continue };
            let mut reader = BufReader::new(conn.try_clone().unwrap());
            let mut headers = Vec::new();
            let mut line = String::new();
            while reader.read_line(&mut line).is_ok_and(|n| n > 0) && line.trim_end() != "" {
                if let Some((k, v)) = line.trim_end().split_once(':') {
                    headers.push((k.to_lowercase(), v.trim().to_string()));
                }
                line.clear();
            }
            let len: usize = headers
                .iter()
                .find(|(k, _)| k == "content-length")
                .and_then(|(_, v)| v.parse().ok())
                .unwrap_or(0);
            let mut body = vec![0; len];
            let _ = reader.read_exact(&mut body);
            let mut all = keep.lock().unwrap();
            let mut r = Received {
                at: Instant::now(),
                headers,
                body: String::from_utf8_lossy(&body).into_owned(),
                status: 200,
            };
            r.status = answer(&r, &all);
            let _ = write!(
                &conn,
                "HTTP/1.1 {} X\r\ncontent-length: 0\r\nconnection: close\r\n\r\n",
                r.status
            );
            all.push(r);
        }
    });
    (url, got)
}

/// Whether `r` carries a valid signature under `secret`, checked as a
/// receiver would, with Python's hmac.
fn signed_by(secret: &str, r: &Received) -> bool {
    let verified = python(
        "import hmac, hashlib, sys\n\
         secret, header, body = sys.argv[1], sys.argv[2], sys.argv[3]\n\
         parts = dict(p.split('=', 1) for p in header.split(','))\n\
         mac = hmac.new(secret.encode(), (parts['t'] + '.' + body).encode(), hashlib.sha256).hexdigest()\n\
         print(hmac.compare_digest(mac, parts['v1']))",
        &[secret, r.header("livefleet-signature"), &r.body],
    );
    verified.trim() == "True"
}

#[test]
fn a_broadcast_its_end_and_its_vod_are_posted_signed_and_retried() {
    let (url, got) = receiver(fail_first_start);
    let secret = "hook-secret-1";
    let env = [("LIVEFLEET_WEBHOOK_SECRET".to_owned(), secret.to_owned())];
    // The live copy deleted 1 s after the VOD is made: that rewrites the
    // archive record twice, which must not post vod.ready again.
    let args = [
        "--grace",
        "2",
        "--delete-live-after",
        "1",
        "--webhook-url",
        &url,
    ];
    let dev = Dev::start_env("hooked", &args, &env);
    let (ok, err) = Publisher::ffmpeg(&dev.publish_url, 6).finish();
    assert!(ok, "{err}");
    let delivered = |kind: &str| {
        got.lock()
            .unwrap()
            .iter()
            .any(|r| r.status == 200 && r.header("livefleet-event-type") == kind)
    };
    dev.wait_for(
        60,
        "broadcast.started, broadcast.stopped and vod.ready",
        || {
            ["broadcast.started", "broadcast.stopped", "vod.ready"]
                .iter()
                .all(|k| delivered(k))
        },
    );
    dev.wait_for(30, "the live copy deleted", || {
        !dev.channel_dir().join("master.m3u8").exists()
    });
    std::thread::sleep(Duration::from_secs(2));
    let all = got.lock().unwrap().clone();
    let kinds: Vec<&str> = all
        .iter()
        .map(|r| r.header("livefleet-event-type"))
        .collect();
    assert_eq!(
        kinds,
        [
            "broadcast.started",
            "broadcast.started",
            "broadcast.stopped",
            "vod.ready"
        ],
        "{all:#?}"
    );
    // The failed try came again with the same id, after a pause.
    assert_eq!(all[0].status, 500);
    assert_eq!(
        all[0].header("livefleet-event-id"),
        all[1].header("livefleet-event-id")
    );
    assert_eq!(all[0].body, all[1].body);
    assert_eq!(all[0].header("livefleet-delivery-attempt"), "1");
    assert_eq!(all[1].header("livefleet-delivery-attempt"), "2");
    assert!(all[0].header("user-agent").starts_with("livefleet/"));
    let pause = all[1].at - all[0].at;
    assert!(
        pause >= Duration::from_millis(800),
        "tried again after {pause:?}"
    );

    for r in &all {
        let json = r.json();
        assert_eq!(json["channel"], "hooked");
        assert_eq!(json["id"], r.header("livefleet-event-id"));
        assert_eq!(json["type"], r.header("livefleet-event-type"));
        assert_eq!(r.header("content-type"), "application/json");
        let sig = r.header("livefleet-signature");
        assert!(signed_by(secret, r), "{sig} over {}", r.body);
        let wrong = python(
            "import hmac, hashlib, sys\n\
             parts = dict(p.split('=', 1) for p in sys.argv[1].split(','))\n\
             mac = hmac.new(b'another', (parts['t'] + '.' + sys.argv[2]).encode(), hashlib.sha256).hexdigest()\n\
             print(hmac.compare_digest(mac, parts['v1']))",
            &[sig, &r.body],
        );
        assert_eq!(wrong.trim(), "False");
    }
    let started = all[1].json();
    let stopped = all[2].json();
    assert_eq!(started["live"]["broadcast"], stopped["live"]["broadcast"]);
    assert_eq!(started["live"]["hls_url"], dev.url("master.m3u8"));
    // The VOD the event names is there.
    let vod = all[3].json();
    let master = vod["vod"]["hls_url"]
        .as_str()
        .expect("a VOD URL")
        .to_owned();
    let (status, _, body) = http_get(&master);
    assert_eq!(status, 200, "{master}");
    assert!(text(&body).contains("#EXT-X-STREAM-INF"));
    assert!(
        vod["vod"]["duration_seconds"].as_f64().unwrap() > 4.0,
        "{vod}"
    );
    assert_eq!(
        http_get(vod["vod"]["thumbnail_url"].as_str().unwrap()).0,
        200
    );
    let (status, _, vtt) = http_get(
        vod["vod"]["storyboard_url"]
            .as_str()
            .unwrap_or_else(|| panic!("{vod}")),
    );
    assert_eq!(status, 200, "{vod}");
    assert!(
        text(&vtt).contains("storyboard/0.jpg#xywh=0,0,"),
        "{}",
        text(&vtt)
    );

    let (_, _, metrics) = http_get(&format!("{}/metrics", dev.http));
    let metrics = text(&metrics);
    for line in [
        "livefleet_webhook_deliveries_total{result=\"failed\",type=\"broadcast.started\"} 1",
        "livefleet_webhook_deliveries_total{result=\"delivered\",type=\"broadcast.started\"} 1",
        "livefleet_webhook_deliveries_total{result=\"delivered\",type=\"broadcast.stopped\"} 1",
        "livefleet_webhook_deliveries_total{result=\"delivered\",type=\"vod.ready\"} 1",
    ] {
        assert!(metrics.contains(line), "{line} in {metrics}");
    }
}

/// Two scheduler replicas with the same URL share the webhook consumers:
/// each event is posted once, not once per replica.
#[test]
fn scheduler_replicas_post_each_event_once() {
    let (url, got) = receiver(always_ok);
    let fleet = Fleet::start(&["w1"]);
    // The first replica also serves the admin API.
    let api = format!("127.0.0.1:{}", free_port());
    let replicas: Vec<Proc> = ["hooks-a", "hooks-b"]
        .iter()
        .map(|id| {
            let mut cmd = livefleet();
            cmd.args(["scheduler", "--nats-url", &fleet.nats_url, "--id", id])
                .args(["--metrics", "127.0.0.1:0", "--webhook-url", &url])
                .env("LIVEFLEET_WEBHOOK_SECRET", "shared");
            if *id == "hooks-a" {
                cmd.args(["--http", &api])
                    .env("LIVEFLEET_ADMIN_TOKEN", "hooks-admin-token");
            }
            Proc::spawn(&mut cmd, fleet.dir.path().join(format!("{id}.log")))
        })
        .collect();
    let channel = || -> serde_json::Value {
        let out = run(std::process::Command::new("curl")
            .args(["-s", "--max-time", "10", "-H"])
            .arg("Authorization: Bearer hooks-admin-token")
            .arg(format!("http://{api}/v1/channels/hookfleet")));
        serde_json::from_slice(&out.stdout).unwrap_or_default()
    };
    fleet.wait_for(30, "both replicas reading both consumers", |_| {
        replicas
            .iter()
            .all(|p| p.log().matches("webhooks: reading").count() == 3)
    });
    fleet.create_channel("hookfleet", "hookfleet-key-1", "cpu-small.yaml");
    let publisher = Publisher::ffmpeg(&fleet.publish_url("hookfleet-key-1"), 8);
    // On the air: the admin API names the worker running it.
    fleet.wait_for(30, "the channel on the air in the admin API", |_| {
        channel()["live"]["node"] == "w1"
    });
    let listed = |fleet: &Fleet| -> String {
        let out = run(livefleet()
            .args(["channel", "list", "--nats-url", &fleet.nats_url])
            .env("RUST_LOG", "error"));
        assert!(out.status.success(), "{}", text(&out.stderr));
        let all = text(&out.stdout);
        let line = all.lines().find(|l| l.starts_with("hookfleet "));
        line.unwrap_or_else(|| panic!("{all}")).to_owned()
    };
    let line = listed(&fleet);
    assert!(
        line.contains(" since 20") && line.contains(" on w1 "),
        "{line}"
    );
    let (ok, err) = publisher.finish();
    assert!(ok, "{err}");
    let kinds = || -> Vec<String> {
        got.lock()
            .unwrap()
            .iter()
            .map(|r| r.header("livefleet-event-type").to_owned())
            .collect()
    };
    fleet.wait_for(60, "vod.ready", |_| {
        kinds().iter().any(|k| k == "vod.ready")
    });
    // Time for a second copy of any of them to arrive.
    std::thread::sleep(Duration::from_secs(3));
    assert_eq!(
        kinds(),
        ["broadcast.started", "broadcast.stopped", "vod.ready"],
        "{:#?}",
        got.lock().unwrap()
    );
    assert!(channel()["live"].is_null(), "{}", channel());
    let line = listed(&fleet);
    assert!(line.contains(" - "), "{line}");
    let delivered: Vec<usize> = replicas
        .iter()
        .map(|p| p.log().matches("webhook delivered").count())
        .collect();
    assert_eq!(delivered.iter().sum::<usize>(), 3, "{delivered:?}");
}

/// A publish the worker gives up on (here a panic injected in its audio
/// thread) is posted as `publish.refused` with the reason the publisher got.
#[test]
fn a_refused_publish_is_posted_with_its_reason() {
    let (url, got) = receiver(always_ok);
    let env = [("LIVEFLEET_FAILPOINT".to_owned(), "audio-thread".to_owned())];
    let dev = Dev::start_env("refused", &["--grace", "2", "--webhook-url", &url], &env);
    let (ok, err) = Publisher::ffmpeg(&dev.publish_url, 30).finish();
    assert!(!ok, "the publisher streamed on: {err}");
    let refused = || {
        got.lock()
            .unwrap()
            .iter()
            .find(|r| r.header("livefleet-event-type") == "publish.refused")
            .cloned()
    };
    dev.wait_for(30, "publish.refused", || refused().is_some());
    let json = refused().unwrap().json();
    assert_eq!(json["channel"], "refused");
    let reason = json["refusal"]["reason"].as_str().unwrap_or_default();
    assert!(reason.contains("the audio thread panicked"), "{json}");
    assert!(
        err.contains(reason),
        "the publisher got {err:?}, the hook {reason:?}"
    );
    assert!(json["refusal"]["session"].as_u64().is_some(), "{json}");
    // Unsigned: no secret was set.
    assert_eq!(refused().unwrap().header("livefleet-signature"), "");
}

/// Answers 503 to every ping after the first, 200 to the rest.
fn fail_pings_after_the_first(r: &Received, before: &[Received]) -> u16 {
    let ping = |r: &Received| r.header("livefleet-event-type") == "ping";
    if ping(r) && before.iter().any(ping) {
        503
    } else {
        200
    }
}

/// An operator checks the receiver end to end without a broadcast:
/// `POST /v1/webhooks/ping` sends a signed `ping` at once and answers with
/// what the receiver did; a receiver that answers 503 gets a 502 saying so.
#[test]
fn an_operator_pings_the_receiver_through_the_admin_api() {
    let (url, got) = receiver(fail_pings_after_the_first);
    let fleet = Fleet::start(&[]);
    let api = format!("127.0.0.1:{}", free_port());
    let replica = Proc::spawn(
        livefleet()
            .args(["scheduler", "--nats-url", &fleet.nats_url, "--id", "pinged"])
            .args([
                "--metrics",
                "127.0.0.1:0",
                "--webhook-url",
                &url,
                "--http",
                &api,
            ])
            .env("LIVEFLEET_WEBHOOK_SECRET", "ping-secret")
            .env("LIVEFLEET_ADMIN_TOKEN", "ping-admin-token"),
        fleet.dir.path().join("pinged.log"),
    );
    fleet.wait_for(30, "the admin API", |_| {
        replica.log().contains("admin API listening")
    });
    let spec: serde_json::Value = serde_norway::from_str(
        &std::fs::read_to_string(repo().join("docs/api/openapi.yaml")).unwrap(),
    )
    .unwrap();
    let ping = || {
        let (status, body) = client::call(
            "POST",
            &format!("http://{api}/v1/webhooks/ping"),
            Some("ping-admin-token"),
            None,
        );
        client::conforms(&spec, "post", "/v1/webhooks/ping", status, &body);
        let json: serde_json::Value = serde_json::from_str(&body).unwrap();
        (status, json)
    };
    let (status, first) = ping();
    assert_eq!(status, 200, "{first}");
    assert_eq!(first["delivered"], true, "{first}");
    assert_eq!(first["status"], 200, "{first}");
    assert_eq!(first["url"], url.as_str(), "{first}");
    assert_eq!(first["signed"], true, "{first}");
    // The receiver got it before the API answered, signed, with the headers
    // of every event.
    let received = got.lock().unwrap().clone();
    assert_eq!(received.len(), 1, "{received:#?}");
    let r = &received[0];
    let json = r.json();
    assert_eq!(json["type"], "ping", "{json}");
    assert_eq!(json["id"], first["id"], "{json}");
    assert_eq!(r.header("livefleet-event-type"), "ping");
    assert_eq!(r.header("livefleet-event-id"), json["id"].as_str().unwrap());
    assert!(
        json["at_ms"]
            .as_i64()
            .is_some_and(|t| t > 1_700_000_000_000),
        "{json}"
    );
    assert!(signed_by("ping-secret", r), "{r:?}");
    assert!(!signed_by("another-secret", r), "{r:?}");

    let (status, second) = ping();
    assert_eq!(status, 502, "{second}");
    assert_eq!(second["delivered"], false, "{second}");
    assert_eq!(second["status"], 503, "{second}");
    assert!(
        second["error"].as_str().is_some_and(|e| e.contains("503")),
        "{second}"
    );
    assert_ne!(second["id"], first["id"], "{second}");
    // Counted as pings, apart from the events.
    fleet.wait_for(10, "the ping counted", |_| {
        replica.log().contains("webhook ping not delivered")
    });
}
