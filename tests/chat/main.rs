//! The chat relay with real processes: a nats-server, `livefleet chat`
//! relays, centrifuge-js (npm `centrifuge` with `ws`, in Node) as the
//! client, and a raw WebSocket client for hostile input.

mod capacity;
#[path = "../common/mod.rs"]
mod common;
mod hostile;
mod raw;
mod replay;

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use common::*;
use futures::{SinkExt, StreamExt};
use raw::{closed_with, Answer, Raw};
use serde_json::{json, Value};
use tokio_tungstenite::tungstenite::Message;

const SECRET: &str = "chat-test-secret-0123456789abcdef0123";

/// A nats-server and any number of relays on free ports.
struct Chat {
    dir: tempfile::TempDir,
    nats_url: String,
    nats_port: u16,
    nats: Option<Proc>,
    relays: Vec<(String, Option<Proc>)>,
}

impl Chat {
    fn start(channels: &[&str]) -> Chat {
        let dir = tempfile::tempdir().unwrap();
        let port = free_port();
        let mut chat = Chat {
            nats_url: format!("nats://127.0.0.1:{port}"),
            nats_port: port,
            dir,
            nats: None,
            relays: Vec::new(),
        };
        chat.start_nats();
        for c in channels {
            let out = run(livefleet()
                .args(["channel", "create", c, "--profile"])
                .arg(profile("cpu-small.yaml"))
                .args(["--nats-url", &chat.nats_url]));
            assert!(
                out.status.success(),
                "channel create: {}",
                text(&out.stderr)
            );
        }
        chat
    }

    /// (Re)starts the nats-server on its port and store.
    fn start_nats(&mut self) {
        self.nats = None;
        let store = self.dir.path().join("jetstream");
        self.nats = Some(Proc::spawn(
            Command::new("nats-server")
                .args([
                    "-a",
                    "127.0.0.1",
                    "-p",
                    &self.nats_port.to_string(),
                    "-js",
                    "-sd",
                ])
                .arg(&store),
            self.dir.path().join("nats.log"),
        ));
        wait_port(self.nats_port);
    }

    /// Starts a relay (with `config` YAML, if any); returns its WebSocket URL.
    fn add_relay(&mut self, config: Option<&str>) -> String {
        let port = free_port();
        let i = self.relays.len();
        let mut cmd = livefleet();
        cmd.args([
            "chat",
            "--nats-url",
            &self.nats_url,
            "--listen",
            &format!("127.0.0.1:{port}"),
        ])
        .arg("--storage")
        .arg(self.dir.path().join("store"))
        .env("LIVEFLEET_CHAT_SECRET", SECRET);
        if let Some(yaml) = config {
            let path = self.dir.path().join(format!("relay{i}.yaml"));
            std::fs::write(&path, yaml).unwrap();
            cmd.arg("--config").arg(path);
        }
        let relay = Proc::spawn(&mut cmd, self.dir.path().join(format!("relay{i}.log")));
        wait_port(port);
        let url = format!("ws://127.0.0.1:{port}/connection/websocket");
        self.relays.push((url.clone(), Some(relay)));
        url
    }

    fn kill_relay(&mut self, i: usize) {
        self.relays[i].1 = None;
    }

    fn relay_pid(&self, i: usize) -> u32 {
        self.relays[i].1.as_ref().unwrap().child.id()
    }

    fn metrics(&self, i: usize) -> String {
        let base = self.relays[i]
            .0
            .replace("ws://", "http://")
            .replace("/connection/websocket", "");
        text(&http_get(&format!("{base}/metrics")).2)
    }

    fn logs(&self) -> String {
        self.relays
            .iter()
            .filter_map(|(_, p)| p.as_ref().map(Proc::log))
            .collect::<Vec<_>>()
            .join("\n---\n")
    }
}

fn wait_port(port: u16) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "nothing listens on {port}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// A token signed with the test secret.
fn token(user: &str, extra: &[&str]) -> String {
    let out = run(livefleet()
        .args(["chat", "token", "--user", user])
        .args(extra)
        .env("LIVEFLEET_CHAT_SECRET", SECRET));
    assert!(out.status.success(), "chat token: {}", text(&out.stderr));
    text(&out.stdout).trim().to_owned()
}

#[test]
fn relays_share_one_conversation_and_a_client_recovers_on_another_relay() {
    let mut chat = Chat::start(&["talk"]);
    let r1 = chat.add_relay(None);
    let r2 = chat.add_relay(None);
    let (alice, bob) = (token("alice", &["--name", "Alice"]), token("bob", &[]));

    // Published through relay 1, delivered by relay 2, in order; history has it.
    let shared = js("share", &[&r1, &r2, &alice, &bob, "talk", "5"]);
    let received = shared["received"].as_array().unwrap();
    let texts: Vec<&str> = received
        .iter()
        .map(|r| r["text"].as_str().unwrap())
        .collect();
    assert_eq!(
        texts,
        (0..5).map(|i| format!("message {i}")).collect::<Vec<_>>(),
        "{shared}"
    );
    let offsets: Vec<u64> = received
        .iter()
        .map(|r| r["offset"].as_u64().unwrap())
        .collect();
    assert!(
        offsets.windows(2).all(|w| w[1] == w[0] + 1),
        "offsets {offsets:?}"
    );
    for r in received {
        assert_eq!(r["user"], "alice");
        assert_eq!(r["data"]["user"], "alice");
        assert_eq!(r["data"]["name"], "Alice");
        assert!(r["data"]["id"].as_str().is_some_and(|id| id.len() == 32));
        assert!(r["data"]["media_time"].as_i64().is_some(), "{r}");
        // No broadcast runs on this channel: no segment.
        assert_eq!(r["data"]["segment"], Value::Null);
    }
    assert_eq!(shared["history"].as_array().unwrap().len(), 5, "{shared}");
    assert!(
        shared["stats"]["numClients"].as_u64().unwrap() >= 1,
        "{shared}"
    );

    // A ban given through relay 1 holds on relay 2.
    let (moderator, carol) = (token("mod", &["--moderator"]), token("carol", &[]));
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let mut m = Raw::session(&r1, &moderator).await;
        let ban = json!({"rpc": {"method": "ban", "data": {"channel": "talk", "user": "carol"}}});
        assert_eq!(m.error_of(ban).await, 0);
        let mut c = Raw::session(&r2, &carol).await;
        let publish = json!({"publish": {"channel": "talk", "data": {"text": "banned?"}}});
        let deadline = Instant::now() + Duration::from_secs(10);
        while c.error_of(publish.clone()).await != 103 {
            assert!(Instant::now() < deadline, "relay 2 never applied the ban");
            tokio::time::sleep(Duration::from_millis(700)).await;
        }
    });

    // NATS restarts under both relays: the conversation goes on.
    chat.start_nats();
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let out = run(Command::new("node")
            .arg(repo().join("tests/chat/client.mjs"))
            .args(["share", &r1, &r2, &alice, &bob, "talk", "2"])
            .current_dir(repo()));
        if out.status.success() {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "no conversation after NATS restarted: {}{}",
            text(&out.stdout),
            chat.logs()
        );
        std::thread::sleep(Duration::from_secs(1));
    }

    // A client of relay 1 knows where it stands; relay 1 dies; messages go on through relay 2.
    let position = js("position", &[&r1, &bob, "talk"]);
    let (offset, epoch) = (
        position["offset"].as_u64().unwrap(),
        position["epoch"].as_str().unwrap().to_owned(),
    );
    assert!(offset >= *offsets.last().unwrap(), "{position}");
    chat.kill_relay(0);
    let sent = js(
        "publish",
        &[&r2, &alice, "talk", "-", "missed 0", "missed 1", "missed 2"],
    );
    assert_eq!(sent["published"], 3, "{sent}");
    // Reconnected to relay 2 with its position: exactly what it missed.
    let back = js("recover", &[&r2, &bob, "talk", &offset.to_string(), &epoch]);
    assert_eq!(back["recovered"], true, "{back}");
    assert_eq!(
        back["texts"],
        json!(["missed 0", "missed 1", "missed 2"]),
        "{back}"
    );
    // A position from another history (wrong epoch) cannot be recovered.
    let stale = js("recover", &[&r2, &bob, "talk", "2", "1234"]);
    assert_eq!(stale["recovered"], false, "{stale}");
    assert_eq!(stale["texts"], json!([]), "{stale}");
    let metrics = chat.metrics(1);
    let count = |result: &str| -> u64 {
        let series = format!("livefleet_chat_messages_total{{result=\"{result}\"}} ");
        metrics
            .lines()
            .find_map(|l| l.strip_prefix(series.as_str()))
            .and_then(|v| v.parse().ok())
            .unwrap_or(0)
    };
    // Relay 2 took the three missed messages (and carol's, if one beat the ban).
    assert!((3..=4).contains(&count("accepted")), "{metrics}");
    assert!(count("banned") >= 1, "{metrics}");
}
