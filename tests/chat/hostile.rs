//! Input no SDK would send, from a raw WebSocket client.

use super::*;

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
