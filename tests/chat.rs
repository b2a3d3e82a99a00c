//! The chat relay with real processes: a nats-server, `livefleet chat`
//! relays, centrifuge-js (npm `centrifuge` with `ws`, in Node) as the
//! client, and a raw WebSocket client for hostile input.

mod common;

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use common::*;
use futures::{SinkExt, StreamExt};
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

/// A raw WebSocket client, for input no SDK would send.
struct Raw {
    ws: tokio_tungstenite::WebSocketStream<
        tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>,
    >,
    next_id: u32,
}

/// What the relay answered.
#[derive(Debug)]
enum Answer {
    Replies(Vec<Value>),
    Closed(u16),
}

impl Raw {
    async fn connect(url: &str) -> Raw {
        let (ws, _) = tokio_tungstenite::connect_async(url)
            .await
            .expect("WebSocket connects");
        Raw { ws, next_id: 1 }
    }

    /// A client whose socket takes in little (a small receive buffer), so a
    /// client that stops reading backs up into the relay quickly.
    async fn narrow(url: &str, token: &str) -> Raw {
        let addr = url
            .trim_start_matches("ws://")
            .split('/')
            .next()
            .unwrap()
            .to_owned();
        let socket = tokio::net::TcpSocket::new_v4().unwrap();
        socket.set_recv_buffer_size(4096).unwrap();
        let stream = socket.connect(addr.parse().unwrap()).await.unwrap();
        let (ws, _) =
            tokio_tungstenite::client_async(url, tokio_tungstenite::MaybeTlsStream::Plain(stream))
                .await
                .expect("WebSocket connects");
        let mut raw = Raw { ws, next_id: 1 };
        let a = raw.command(json!({"connect": {"token": token}})).await;
        assert!(
            matches!(&a, Answer::Replies(r) if r[0]["connect"]["client"].is_string()),
            "{a:?}"
        );
        raw
    }

    /// Connects and sends `connect` with `token` (empty: anonymous).
    async fn session(url: &str, token: &str) -> Raw {
        let mut raw = Raw::connect(url).await;
        let a = raw.command(json!({"connect": {"token": token}})).await;
        assert!(
            matches!(&a, Answer::Replies(r) if r[0]["connect"]["client"].is_string()),
            "{a:?}"
        );
        raw
    }

    async fn send(&mut self, m: Message) {
        self.ws.send(m).await.expect("send");
    }

    /// The next non-ping frame (its replies), or the close code.
    async fn answer(&mut self) -> Answer {
        loop {
            let m = tokio::time::timeout(Duration::from_secs(10), self.ws.next())
                .await
                .expect("the relay answers");
            match m {
                Some(Ok(Message::Text(t))) => {
                    let replies: Vec<Value> = t
                        .lines()
                        .filter(|l| l.trim() != "{}")
                        .map(|l| serde_json::from_str(l).expect("JSON reply"))
                        .collect();
                    if !replies.is_empty() {
                        return Answer::Replies(replies);
                    }
                }
                Some(Ok(Message::Close(frame))) => {
                    return Answer::Closed(frame.map_or(1005, |f| u16::from(f.code)))
                }
                Some(Ok(_)) => {}
                Some(Err(_)) | None => return Answer::Closed(1006),
            }
        }
    }

    /// Sends a command (an id is added) and waits for its answer.
    async fn command(&mut self, mut cmd: Value) -> Answer {
        cmd["id"] = json!(self.next_id);
        self.next_id += 1;
        self.send(Message::text(cmd.to_string())).await;
        self.answer().await
    }

    /// The error code of a command's reply (0 if it succeeded).
    async fn error_of(&mut self, cmd: Value) -> u64 {
        match self.command(cmd).await {
            Answer::Replies(r) => r
                .iter()
                .find(|r| r.get("id").is_some())
                .map_or(0, |r| r["error"]["code"].as_u64().unwrap_or(0)),
            other => panic!("expected a reply, got {other:?}"),
        }
    }
}

fn closed_with(a: Answer) -> u16 {
    match a {
        Answer::Closed(code) => code,
        other => panic!("expected a close, got {other:?}"),
    }
}

#[test]
fn hostile_input_gets_centrifugo_codes_and_the_relay_stays_up() {
    let mut chat = Chat::start(&["talk", "flood"]);
    let url = chat.add_relay(Some(
        "queue_messages: 16\nmax_message_chars: 8000\nchannels:\n  flood:\n    rate: { messages: 100000, per_s: 1 }\n",
    ));
    let (alice, bob, moderator) = (
        token("alice", &[]),
        token("bob", &[]),
        token("mod", &["--moderator"]),
    );
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        // Frames that are not JSON commands, or come before connect.
        let mut c = Raw::connect(&url).await;
        c.send(Message::binary(vec![1u8, 2, 3])).await;
        assert_eq!(closed_with(c.answer().await), 3501, "binary frame");
        let mut c = Raw::connect(&url).await;
        c.send(Message::text("{not json")).await;
        assert_eq!(closed_with(c.answer().await), 3501, "invalid JSON");
        let mut c = Raw::connect(&url).await;
        assert_eq!(closed_with(c.command(json!({"subscribe": {"channel": "talk"}})).await), 3501, "before connect");
        let mut c = Raw::connect(&url).await;
        c.send(Message::text(format!("{{\"id\":1,\"connect\":{{\"token\":\"{}\"}}}}", "x".repeat(70 * 1024)))).await;
        assert_eq!(closed_with(c.answer().await), 1009, "oversized frame");
        // Tokens: forged, expired, none.
        let forged = format!("{}x", &alice[..alice.len() - 1]);
        let mut c = Raw::connect(&url).await;
        assert_eq!(closed_with(c.command(json!({"connect": {"token": forged}})).await), 3500, "forged token");
        let expired = livefleet_chat::TokenKey::new(SECRET).unwrap().issue("alice", None, false, 1_000, Some(60));
        let mut c = Raw::connect(&url).await;
        assert_eq!(c.error_of(json!({"connect": {"token": expired}})).await, 109, "expired token");
        let mut anon = Raw::session(&url, "").await;
        assert_eq!(anon.error_of(json!({"subscribe": {"channel": "talk"}})).await, 0, "anonymous read");
        assert_eq!(anon.error_of(json!({"publish": {"channel": "talk", "data": {"text": "hi"}}})).await, 103, "anonymous send");
        assert_eq!(anon.error_of(json!({"frobnicate": {}})).await, 104, "unknown command");
        assert_eq!(anon.error_of(json!({"subscribe": {"channel": "nosuch"}})).await, 102, "unknown channel");
        assert_eq!(anon.error_of(json!({"subscribe": {"channel": "Bad Name!"}})).await, 102, "bad channel name");
        assert_eq!(anon.error_of(json!({"subscribe": {"channel": "talk"}})).await, 105, "already subscribed");

        // Sending: bad data, too long, the rate limit and a flood.
        let mut a = Raw::session(&url, &alice).await;
        let publish = |text: &str| json!({"publish": {"channel": "talk", "data": {"text": text}}});
        assert_eq!(a.error_of(json!({"publish": {"channel": "talk", "data": [1, 2]}})).await, 107, "not an object");
        assert_eq!(a.error_of(publish(&"é".repeat(8001))).await, 107, "over the longest message");
        for i in 0..3 {
            assert_eq!(a.error_of(publish(&format!("ok {i}"))).await, 0, "within the rate");
        }
        assert_eq!(a.error_of(publish("one too many")).await, 111, "over 3 per 2 s");
        let mut code = 0;
        for _ in 0..30 {
            match a.command(publish("flood")).await {
                Answer::Replies(_) => {}
                Answer::Closed(c) => {
                    code = c;
                    break;
                }
            }
        }
        assert_eq!(code, 3013, "a flood ends the connection");

        // Moderation: a ban holds; a user's rpc is refused; an unknown method is not found.
        let mut b = Raw::session(&url, &bob).await;
        assert_eq!(b.error_of(json!({"rpc": {"method": "ban", "data": {"channel": "talk", "user": "alice"}}})).await, 103, "ban by a viewer");
        let mut m = Raw::session(&url, &moderator).await;
        assert_eq!(m.error_of(json!({"rpc": {"method": "timeout", "data": {"channel": "talk", "user": "bob", "seconds": 600}}})).await, 0);
        assert_eq!(m.error_of(json!({"rpc": {"method": "nosuch", "data": {}}})).await, 104);
        assert_eq!(b.error_of(publish("I am timed out")).await, 103, "timed-out user");
        assert_eq!(m.error_of(json!({"rpc": {"method": "unban", "data": {"channel": "talk", "user": "bob"}}})).await, 0);
        assert_eq!(b.error_of(publish("back again")).await, 0, "ban lifted");
        // A deletion reaches subscribers as a `delete` publication.
        let mut watcher = Raw::session(&url, "").await;
        assert_eq!(watcher.error_of(json!({"subscribe": {"channel": "talk"}})).await, 0);
        let sent = match b.command(json!({"history": {"channel": "talk", "limit": 1, "reverse": true}})).await {
            Answer::Replies(r) => r.iter().find(|r| r.get("id").is_some()).unwrap()["history"]["publications"][0]["data"]["id"].as_str().unwrap().to_owned(),
            other => panic!("{other:?}"),
        };
        assert_eq!(m.error_of(json!({"rpc": {"method": "delete", "data": {"channel": "talk", "id": sent}}})).await, 0);
        let pushed = loop {
            match watcher.answer().await {
                Answer::Replies(r) => {
                    if let Some(p) = r.iter().find(|p| p["push"]["pub"]["data"]["type"] == "delete") {
                        break p.clone();
                    }
                }
                other => panic!("{other:?}"),
            }
        };
        assert_eq!(pushed["push"]["pub"]["data"]["id"], json!(sent), "{pushed}");
        assert_eq!(pushed["push"]["pub"]["data"]["by"], "mod", "{pushed}");

        // A client that never reads is disconnected as slow, not buffered without end.
        let mut slow = Raw::narrow(&url, "").await;
        assert_eq!(slow.error_of(json!({"subscribe": {"channel": "flood"}})).await, 0);
        let mut flooder = Raw::session(&url, &alice).await;
        // 12 MB of pushes: more than the socket buffers of both ends hold.
        let big = "x".repeat(8000);
        for _ in 0..1500 {
            flooder
                .send(Message::text(json!({"id": 1, "publish": {"channel": "flood", "data": {"text": big}}}).to_string()))
                .await;
        }
        let deadline = Instant::now() + Duration::from_secs(60);
        while !chat.metrics(0).contains("livefleet_chat_slow_clients_total 1")
            && !chat.metrics(0).contains("livefleet_chat_disconnects_total{code=\"3008\"} 1")
        {
            assert!(Instant::now() < deadline, "the slow client was never disconnected: {}", chat.metrics(0));
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        drop(slow);

        // Still up: a new client subscribes and sends.
        let mut fresh = Raw::session(&url, &bob).await;
        assert_eq!(fresh.error_of(json!({"subscribe": {"channel": "talk"}})).await, 0);
    });
    assert!(
        chat.relays[0]
            .1
            .as_mut()
            .unwrap()
            .child
            .try_wait()
            .unwrap()
            .is_none(),
        "the relay died: {}",
        chat.logs()
    );
    let metrics = chat.metrics(0);
    for code in ["3501", "3500", "3013", "1009"] {
        assert!(
            !metrics.contains(&format!(
                "livefleet_chat_disconnects_total{{code=\"{code}\"}} 0"
            )),
            "{code}: {metrics}"
        );
    }
}

fn rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap()
}

/// Raises this process's open-file limit as far as allowed (the relay
/// started after inherits it); returns the limit.
fn raise_open_files() -> u64 {
    // SAFETY: getrlimit/setrlimit with a valid, initialised struct.
    unsafe {
        let mut l = libc::rlimit {
            rlim_cur: 0,
            rlim_max: 0,
        };
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut l) != 0 {
            return 1024;
        }
        l.rlim_cur = l.rlim_max;
        let _ = libc::setrlimit(libc::RLIMIT_NOFILE, &l);
        libc::getrlimit(libc::RLIMIT_NOFILE, &mut l);
        l.rlim_cur
    }
}

#[test]
fn ten_thousand_idle_connections_keep_the_relay_up_and_its_memory_bounded() {
    let limit = raise_open_files();
    // Both ends of every connection live on this machine, in two processes.
    let n = 10_000usize.min((limit as usize).saturating_sub(500));
    let mut chat = Chat::start(&["crowd"]);
    // Idle for the length of the test: pings every 10 minutes.
    let url = chat.add_relay(Some("ping_interval_s: 600\n"));
    let pid = chat.relay_pid(0);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let (before, after) = rt.block_on(async {
        let open = |count: usize| {
            let url = url.clone();
            async move {
                let mut all = Vec::with_capacity(count);
                let mut pending = futures::stream::iter(0..count)
                    .map(|_| {
                        let url = url.clone();
                        async move {
                            let mut c = Raw::session(&url, "").await;
                            assert_eq!(
                                c.error_of(json!({"subscribe": {"channel": "crowd"}})).await,
                                0
                            );
                            c
                        }
                    })
                    .buffer_unordered(64);
                while let Some(c) = pending.next().await {
                    all.push(c);
                }
                all
            }
        };
        let warm = open(200).await;
        tokio::time::sleep(Duration::from_secs(1)).await;
        let before = rss_kib(pid);
        let crowd = open(n - 200).await;
        tokio::time::sleep(Duration::from_secs(2)).await;
        let after = rss_kib(pid);
        // Still serving: one more client subscribes and gets the viewer count.
        let mut probe = Raw::session(&url, "").await;
        assert_eq!(
            probe
                .error_of(json!({"subscribe": {"channel": "crowd"}}))
                .await,
            0
        );
        match probe
            .command(json!({"presence_stats": {"channel": "crowd"}}))
            .await
        {
            Answer::Replies(r) => {
                assert_eq!(r[0]["presence_stats"]["num_clients"], json!(n + 1), "{r:?}")
            }
            other => panic!("{other:?}"),
        }
        drop((warm, crowd));
        (before, after)
    });
    let per_conn = (after.saturating_sub(before)) as f64 * 1024.0 / (n - 200) as f64;
    println!("relay RSS: {before} KiB with 200 connections, {after} KiB with {n}: {per_conn:.0} bytes per idle connection");
    assert!(
        per_conn < 32.0 * 1024.0,
        "{per_conn:.0} bytes per idle connection"
    );
    assert!(
        chat.relays[0]
            .1
            .as_mut()
            .unwrap()
            .child
            .try_wait()
            .unwrap()
            .is_none(),
        "the relay died: {}",
        chat.logs()
    );
}

/// Messages of a broadcast land in the chat file of the segment their media time falls in.
#[test]
fn chat_files_hold_the_messages_of_their_segment() {
    let dev = Dev::start("chatty", &[]);
    let chat_url = dev.chat.clone();
    let token = dev.chat_token.clone();
    let _publisher = Publisher::ffmpeg(&dev.publish_url, 60);
    let out = dev.channel_dir();
    let segment_times =
        |out: &Path| -> Vec<(u64, i64, i64)> { program_dates(&out.join("360p/index.m3u8")) };
    dev.wait_for(60, "four segments", || segment_times(&out).len() >= 4);
    // Messages at the media times of the newest segment, at the live edge, and far in the past.
    let segs = segment_times(&out);
    let (n, start, end) = *segs.last().unwrap();
    let mid = (start + end) / 2;
    let sent = js(
        "publish",
        &[
            &chat_url,
            &token,
            "chatty",
            &mid.to_string(),
            "at mid",
            "also at mid",
        ],
    );
    assert_eq!(sent["published"], 2, "{sent}");
    let sent = js(
        "publish",
        &[&chat_url, &token, "chatty", "-", "at the edge"],
    );
    assert_eq!(sent["published"], 1, "{sent}");
    let sent = js(
        "publish",
        &[&chat_url, &token, "chatty", "1000", "long ago"],
    );
    assert_eq!(sent["published"], 1, "{sent}");
    // Each message's file is written once three more segments have closed.
    // The live playlist keeps a window: remember every segment it showed.
    let known = std::cell::RefCell::new(std::collections::BTreeMap::new());
    dev.wait_for(60, "the chat files", || {
        let mut known = known.borrow_mut();
        for (k, s, e) in segment_times(&out) {
            known.insert(k, (s, e));
        }
        known.keys().next_back().is_some_and(|last| *last >= n + 5)
    });
    std::thread::sleep(Duration::from_secs(2));
    let known = known.into_inner();
    let newest = *known.keys().next_back().unwrap();
    let mut seen = Vec::new();
    for (number, (start, end)) in known.iter().filter(|(k, _)| **k + 3 <= newest) {
        let file = out.join(format!("chat/{number}.json"));
        let body = std::fs::read_to_string(&file)
            .unwrap_or_else(|_| panic!("no {}: {}", file.display(), dev.log()));
        let messages: Vec<Value> = serde_json::from_str(&body).unwrap();
        for m in &messages {
            let t = m["media_time"].as_i64().unwrap();
            // EXTINF has millisecond precision: boundaries summed from it may be a few ms off.
            assert!(
                *start - 3 <= t && t < *end + 3,
                "segment {number} [{start}, {end}) holds {m}"
            );
            assert_eq!(m["segment"], json!(number), "{m}");
            seen.push(m["text"].as_str().unwrap().to_owned());
        }
    }
    let segs: Vec<_> = known.iter().collect();
    let http = chat_url
        .replace("ws://", "http://")
        .replace("/connection/websocket", "");
    for t in ["at mid", "also at mid", "at the edge", "long ago"] {
        assert_eq!(
            seen.iter().filter(|s| *s == t).count(),
            1,
            "{t} in exactly one file: {seen:?}; segments {segs:?}; every message: {}",
            text(&http_get(&format!("{http}/v1/chat/chatty")).2)
        );
    }
    // The broadcast's start is in the chat's history.
    let history = js("history", &[&chat_url, "chatty"]);
    assert!(
        history["data"]
            .as_array()
            .unwrap()
            .iter()
            .any(|d| d["type"] == "broadcast" && d["state"] == "started"),
        "{history}"
    );
    // The range API refuses what it cannot read, and answers by media time.
    for (query, want) in [
        ("chatty?from=yesterday", 400),
        ("chatty?from=20&to=10", 400),
        ("nosuch?from=0", 404),
    ] {
        let (status, _, body) = http_get(&format!("{http}/v1/chat/{query}"));
        assert_eq!(status, want, "{query}: {}", text(&body));
    }
    let (status, _, body) = http_get(&format!("{http}/v1/chat/chatty?from={start}&to={end}"));
    let body = text(&body);
    assert_eq!(status, 200, "{body}");
    let range: Value = serde_json::from_str(&body).unwrap();
    let texts: Vec<&str> = range["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["text"].as_str().unwrap())
        .collect();
    assert_eq!(texts, ["at mid", "also at mid"], "{body}");
}

/// (number, PROGRAM-DATE-TIME start ms, end ms) of each segment of an HLS media playlist.
fn program_dates(playlist: &Path) -> Vec<(u64, i64, i64)> {
    let Ok(text) = std::fs::read_to_string(playlist) else {
        return Vec::new();
    };
    let mut out = Vec::new();
    let mut at: Option<i64> = None;
    let mut duration = 0.0f64;
    for line in text.lines() {
        if let Some(t) = line.strip_prefix("#EXT-X-PROGRAM-DATE-TIME:") {
            at = livefleet_base::clock::parse_iso8601(t);
        } else if let Some(d) = line.strip_prefix("#EXTINF:") {
            duration = d
                .trim_end_matches(',')
                .split(',')
                .next()
                .unwrap_or("0")
                .parse()
                .unwrap_or(0.0);
        } else if !line.starts_with('#') && line.ends_with(".m4s") {
            let Some(start) = at else { continue };
            let end = start + (duration * 1000.0).round() as i64;
            out.push((segment_number(line), start, end));
            at = Some(end);
        }
    }
    out
}

/// `12.m4s` and `12-g3.m4s` are segment 12.
fn segment_number(uri: &str) -> u64 {
    let name = uri.rsplit('/').next().unwrap_or(uri);
    let digits: String = name.chars().take_while(char::is_ascii_digit).collect();
    digits.parse().unwrap_or(0)
}
