//! The scheduler's admin API against its OpenAPI description, with a real
//! nats-server, a `livefleet scheduler` process and curl as the client.

mod client;
#[path = "../common/mod.rs"]
mod common;

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use client::*;
use common::*;
use serde_json::Value;

#[test]
fn admin_api_matches_its_openapi_description() {
    let spec_text = std::fs::read_to_string(repo().join("docs/api/openapi.yaml")).unwrap();
    let spec: Value = serde_norway::from_str(&spec_text).unwrap();

    // The spec lists exactly the routes the server has.
    let mut documented: Vec<(String, String)> = Vec::new();
    for (path, item) in spec["paths"].as_object().unwrap() {
        for method in ["get", "post", "put", "delete"] {
            if item.get(method).is_some() {
                documented.push((method.to_string(), path.clone()));
            }
        }
    }
    let mut served: Vec<(String, String)> = livefleet_scheduler::admin::ROUTES
        .iter()
        .map(|(m, p)| (m.to_string(), p.to_string()))
        .collect();
    documented.sort();
    served.sort();
    assert_eq!(
        documented, served,
        "docs/api/openapi.yaml and the router disagree"
    );

    let dir = tempfile::tempdir().unwrap();
    let nats_port = free_port();
    let _nats = Kill(
        Command::new("nats-server")
            .args([
                "-a",
                "127.0.0.1",
                "-p",
                &nats_port.to_string(),
                "-js",
                "-sd",
            ])
            .arg(dir.path().join("js"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("nats-server"),
    );
    let http = format!("127.0.0.1:{}", free_port());
    let log = dir.path().join("scheduler.log");
    let _scheduler = Kill(
        livefleet()
            .args([
                "scheduler",
                "--nats-url",
                &format!("nats://127.0.0.1:{nats_port}"),
                "--http",
                &http,
                "--metrics",
                "127.0.0.1:0",
            ])
            .env("LIVEFLEET_ADMIN_TOKEN", TOKEN)
            .env("LIVEFLEET_CHAT_SECRET", CHAT_SECRET)
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .unwrap(),
    );
    let base = format!("http://{http}");
    let deadline = Instant::now() + Duration::from_secs(30);
    while call("GET", &format!("{base}/healthz"), None, None).0 != 200 {
        assert!(
            Instant::now() < deadline,
            "the admin API did not come up: {}",
            std::fs::read_to_string(&log).unwrap_or_default()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    let t = Some(TOKEN);
    // A client that sends half a request head and waits: checked at the end.
    let half_header_since = Instant::now();
    let mut half_header = std::net::TcpStream::connect(&http).unwrap();
    std::io::Write::write_all(
        &mut half_header,
        b"GET /v1/channels HTTP/1.1\r\nHost: x\r\n",
    )
    .unwrap();

    // Without or with a wrong token: 401.
    for token in [None, Some("wrong")] {
        let (status, body) = call("GET", &format!("{base}/v1/channels"), token, None);
        assert_eq!(status, 401, "{body}");
        conforms(&spec, "get", "/v1/channels", status, &body);
    }

    // Profiles: a bad one lists every problem; a good one is stored.
    let bad = "name: bad\nsegment_duration: 3\ngop: 2\nvideo:\n  - name: x\n    width: 641\n    height: 360\n    bitrate: 1k\naudio: []\nbogus: 1\n";
    let (status, body) = call(
        "PUT",
        &format!("{base}/v1/profiles/bad"),
        t,
        Some(("application/yaml", bad)),
    );
    assert_eq!(status, 422, "{body}");
    conforms(&spec, "put", "/v1/profiles/{name}", status, &body);
    let errors: Value = serde_json::from_str(&body).unwrap();
    assert!(
        errors["errors"].as_array().unwrap().len() >= 3,
        "every problem is reported: {body}"
    );
    let good = std::fs::read_to_string(profile("cpu-small.yaml")).unwrap();
    let (status, body) = call(
        "PUT",
        &format!("{base}/v1/profiles/small"),
        t,
        Some(("application/yaml", &good)),
    );
    assert_eq!(status, 201, "{body}");
    conforms(&spec, "put", "/v1/profiles/{name}", status, &body);
    let (status, body) = call(
        "PUT",
        &format!("{base}/v1/profiles/small"),
        t,
        Some(("application/yaml", &good)),
    );
    assert_eq!(status, 200, "{body}");
    let (status, body) = call("GET", &format!("{base}/v1/profiles"), t, None);
    assert_eq!(status, 200);
    conforms(&spec, "get", "/v1/profiles", status, &body);
    assert!(body.contains("\"small\""), "{body}");
    let (status, body) = call("GET", &format!("{base}/v1/profiles/small"), t, None);
    assert_eq!((status, body.trim()), (200, good.trim()));

    // Channels.
    let (status, body) = call(
        "POST",
        &format!("{base}/v1/channels"),
        t,
        Some(("application/json", "{not json")),
    );
    assert_eq!(status, 400, "{body}");
    conforms(&spec, "post", "/v1/channels", status, &body);
    let (status, body) = call(
        "POST",
        &format!("{base}/v1/channels"),
        t,
        Some(("application/json", r#"{"name":"show","profile":"nope"}"#)),
    );
    assert_eq!(status, 422, "{body}");
    let (status, body) = call(
        "POST",
        &format!("{base}/v1/channels"),
        t,
        Some(("application/json", r#"{"name":"show","profile":"small"}"#)),
    );
    assert_eq!(status, 201, "{body}");
    conforms(&spec, "post", "/v1/channels", status, &body);
    let created: Value = serde_json::from_str(&body).unwrap();
    let key = created["stream_key"].as_str().unwrap();
    assert!(
        created["rtmp_url"].as_str().unwrap().ends_with(key),
        "{body}"
    );
    assert!(
        created["hls_url"]
            .as_str()
            .unwrap()
            .ends_with("/show/master.m3u8"),
        "{body}"
    );
    assert!(
        created["thumbnail_url"]
            .as_str()
            .unwrap()
            .ends_with("/show/thumbnail.jpg"),
        "{body}"
    );
    let (status, body) = call(
        "POST",
        &format!("{base}/v1/channels"),
        t,
        Some(("application/json", r#"{"name":"show","profile":"small"}"#)),
    );
    assert_eq!(status, 409, "{body}");
    conforms(&spec, "post", "/v1/channels", status, &body);
    let (status, body) = call("GET", &format!("{base}/v1/channels"), t, None);
    assert_eq!(status, 200);
    conforms(&spec, "get", "/v1/channels", status, &body);
    let (status, body) = call("GET", &format!("{base}/v1/channels/show"), t, None);
    assert_eq!(status, 200);
    conforms(&spec, "get", "/v1/channels/{name}", status, &body);
    // No broadcast has ended yet: an empty archive list (tests/archive.rs fills one).
    let (status, body) = call(
        "GET",
        &format!("{base}/v1/channels/show/broadcasts"),
        t,
        None,
    );
    assert_eq!((status, body.trim()), (200, "[]"));
    conforms(
        &spec,
        "get",
        "/v1/channels/{name}/broadcasts",
        status,
        &body,
    );
    let (status, body) = call(
        "GET",
        &format!("{base}/v1/channels/Show/broadcasts"),
        t,
        None,
    );
    assert_eq!(status, 422, "{body}");
    conforms(
        &spec,
        "get",
        "/v1/channels/{name}/broadcasts",
        status,
        &body,
    );
    // The CLI sees the channel too.
    let listed = run(livefleet().args([
        "channel",
        "list",
        "--nats-url",
        &format!("nats://127.0.0.1:{nats_port}"),
    ]));
    let table = text(&listed.stdout);
    let header = table.lines().next().unwrap_or_default();
    let row = table
        .lines()
        .find(|l| l.starts_with("show "))
        .unwrap_or_else(|| panic!("{table}"));
    // The columns line up under their headings.
    let column = |line: &str| line.split_whitespace().nth(1).and_then(|w| line.find(w));
    assert_eq!(column(row), header.find("PROFILE"), "{table}");

    // Webhooks are off on this scheduler: a ping says how to switch them on.
    let (status, body) = call("POST", &format!("{base}/v1/webhooks/ping"), t, None);
    assert_eq!(status, 409, "{body}");
    conforms(&spec, "post", "/v1/webhooks/ping", status, &body);
    assert!(body.contains("--webhook-url"), "{body}");
    let (status, _) = call("POST", &format!("{base}/v1/webhooks/ping"), None, None);
    assert_eq!(status, 401);

    // Chat: tokens the relays accept, bans, deletions.
    let (status, body) = call(
        "POST",
        &format!("{base}/v1/chat/tokens"),
        t,
        Some((
            "application/json",
            r#"{"user":"alice","name":"Alice","moderator":true,"ttl_s":60}"#,
        )),
    );
    assert_eq!(status, 201, "{body}");
    conforms(&spec, "post", "/v1/chat/tokens", status, &body);
    let issued: Value = serde_json::from_str(&body).unwrap();
    let identity = livefleet_chat::TokenKey::new(CHAT_SECRET)
        .unwrap()
        .verify(
            issued["token"].as_str().unwrap(),
            livefleet_base::now_unix_ms() / 1000,
        )
        .unwrap();
    assert_eq!(
        (
            identity.user.as_str(),
            identity.name.as_str(),
            identity.moderator
        ),
        ("alice", "Alice", true)
    );
    for (req, want) in [
        (r#"{"user":""}"#, 422),
        (r#"{"user":"a","ttl_s":0}"#, 422),
        (r#"{"user":"a","bogus":1}"#, 400),
    ] {
        let (status, body) = call(
            "POST",
            &format!("{base}/v1/chat/tokens"),
            t,
            Some(("application/json", req)),
        );
        assert_eq!(status, want, "{req}: {body}");
        conforms(&spec, "post", "/v1/chat/tokens", status, &body);
    }
    let (status, body) = call(
        "POST",
        &format!("{base}/v1/chat/show/bans"),
        t,
        Some((
            "application/json",
            r#"{"user":"bob","seconds":60,"reason":"spam"}"#,
        )),
    );
    assert_eq!(status, 201, "{body}");
    conforms(&spec, "post", "/v1/chat/{channel}/bans", status, &body);
    let (status, body) = call(
        "POST",
        &format!("{base}/v1/chat/nosuch/bans"),
        t,
        Some(("application/json", r#"{"user":"bob"}"#)),
    );
    assert_eq!(status, 404, "{body}");
    conforms(&spec, "post", "/v1/chat/{channel}/bans", status, &body);
    let (status, body) = call("DELETE", &format!("{base}/v1/chat/show/bans/bob"), t, None);
    assert_eq!(status, 204, "{body}");
    let (status, body) = call(
        "DELETE",
        &format!("{base}/v1/chat/show/messages/0123abcd"),
        t,
        None,
    );
    assert_eq!(status, 204, "{body}");
    let (status, body) = call(
        "DELETE",
        &format!("{base}/v1/chat/show/messages/bad%21id"),
        t,
        None,
    );
    assert_eq!(status, 422, "{body}");
    conforms(
        &spec,
        "delete",
        "/v1/chat/{channel}/messages/{id}",
        status,
        &body,
    );

    // Fleet and drain (no workers here: an empty fleet, an empty drain).
    let (status, body) = call("GET", &format!("{base}/v1/fleet"), t, None);
    assert_eq!(status, 200);
    conforms(&spec, "get", "/v1/fleet", status, &body);
    // A worker nobody knows cannot be drained (it was answered 200 ok: true).
    let (status, body) = call("POST", &format!("{base}/v1/nodes/w9/drain"), t, None);
    assert_eq!(status, 404, "{body}");
    assert!(body.contains("no worker w9"), "{body}");
    conforms(&spec, "post", "/v1/nodes/{id}/drain", status, &body);
    let (status, body) = call("POST", &format!("{base}/v1/nodes/w9/undrain"), t, None);
    assert_eq!(status, 404, "{body}");
    conforms(&spec, "post", "/v1/nodes/{id}/undrain", status, &body);
    let (status, body) = call("POST", &format!("{base}/v1/nodes/NOT%20OK/drain"), t, None);
    assert_eq!(status, 422, "{body}");

    // Client errors are client errors: bad profile names are 422 with the
    // rule, oversized profiles and bodies 413, all in the JSON error shape.
    for bad in ["", "*", "a b", "../../x"] {
        let req = serde_json::json!({ "name": "badprof", "profile": bad }).to_string();
        let (status, body) = call(
            "POST",
            &format!("{base}/v1/channels"),
            t,
            Some(("application/json", &req)),
        );
        assert_eq!(status, 422, "profile {bad:?}: {body}");
        assert!(body.contains("[a-z0-9_-]"), "the rule is named: {body}");
        conforms(&spec, "post", "/v1/channels", status, &body);
    }
    let huge = format!("{good}\n#{}\n", "x".repeat(1000 * 1000));
    let (status, body) = call(
        "PUT",
        &format!("{base}/v1/profiles/huge"),
        t,
        Some(("application/yaml", &huge)),
    );
    assert_eq!(status, 413, "a profile too large to store: {body}");
    conforms(&spec, "put", "/v1/profiles/{name}", status, &body);
    let inline = serde_json::json!({ "name": "hugeinline", "profile_yaml": huge }).to_string();
    let (status, body) = call(
        "POST",
        &format!("{base}/v1/channels"),
        t,
        Some(("application/json", &inline)),
    );
    assert_eq!(status, 413, "{body}");
    conforms(&spec, "post", "/v1/channels", status, &body);
    let over = "y".repeat(1100 * 1024);
    let (status, body) = call(
        "PUT",
        &format!("{base}/v1/profiles/over"),
        t,
        Some(("application/yaml", &over)),
    );
    assert_eq!(status, 413, "{body}");
    let parsed: Value = serde_json::from_str(&body).expect("a JSON error body for 413");
    assert!(parsed["error"].is_string(), "{body}");
    conforms(&spec, "put", "/v1/profiles/{name}", status, &body);

    // Rotating the stream key: a new one (generated, then chosen), the old one gone.
    let (_, before) = call("GET", &format!("{base}/v1/channels/show"), t, None);
    let old_key = serde_json::from_str::<Value>(&before).unwrap()["stream_key"].clone();
    let rotate = format!("{base}/v1/channels/show/stream-key");
    let (status, body) = call("POST", &rotate, t, None);
    assert_eq!(status, 200, "{body}");
    conforms(
        &spec,
        "post",
        "/v1/channels/{name}/stream-key",
        status,
        &body,
    );
    let rotated: Value = serde_json::from_str(&body).unwrap();
    assert_ne!(rotated["stream_key"], old_key);
    assert!(rotated["rtmp_url"]
        .as_str()
        .unwrap()
        .ends_with(rotated["stream_key"].as_str().unwrap()));
    let (status, body) = call(
        "POST",
        &rotate,
        t,
        Some(("application/json", r#"{"stream_key":"chosen_key-0001"}"#)),
    );
    assert_eq!(status, 200, "{body}");
    assert!(body.contains("chosen_key-0001"), "{body}");
    for (req, want) in [
        (r#"{"stream_key":"chosen_key-0001"}"#, 422),
        (r#"{"stream_key":"bad key"}"#, 422),
        (r#"{"key":"x"}"#, 400),
    ] {
        let (status, body) = call("POST", &rotate, t, Some(("application/json", req)));
        assert_eq!(status, want, "{req}: {body}");
        conforms(
            &spec,
            "post",
            "/v1/channels/{name}/stream-key",
            status,
            &body,
        );
    }
    let (status, body) = call(
        "POST",
        &format!("{base}/v1/channels/nobody/stream-key"),
        t,
        None,
    );
    assert_eq!(status, 404, "{body}");
    conforms(
        &spec,
        "post",
        "/v1/channels/{name}/stream-key",
        status,
        &body,
    );

    let (status, body) = call("DELETE", &format!("{base}/v1/channels/show"), t, None);
    assert_eq!(status, 204, "{body}");
    let (status, body) = call("DELETE", &format!("{base}/v1/channels/show"), t, None);
    assert_eq!(status, 404, "{body}");
    conforms(&spec, "delete", "/v1/channels/{name}", status, &body);
    let (status, _) = call("GET", &format!("{base}/v1/nothing"), t, None);
    assert_eq!(status, 404);

    // The half header was closed by the server, not left open.
    half_header
        .set_read_timeout(Some(Duration::from_secs(15)))
        .unwrap();
    let mut rest = Vec::new();
    let closed = std::io::Read::read_to_end(&mut half_header, &mut rest);
    assert!(
        closed.is_ok() && half_header_since.elapsed() < Duration::from_secs(20),
        "a half request head kept its connection open for {:?}",
        half_header_since.elapsed()
    );
}
