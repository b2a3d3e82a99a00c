//! A raw WebSocket client, for input no SDK would send.

use super::*;

/// A raw WebSocket client, for input no SDK would send.
pub(crate) struct Raw {
    ws: tokio_tungstenite::WebSocketStream<
        tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>,
    >,
    next_id: u32,
}

/// What the relay answered.
#[derive(Debug)]
pub(crate) enum Answer {
    Replies(Vec<Value>),
    Closed(u16),
}

impl Raw {
    pub(crate) async fn connect(url: &str) -> Raw {
        let (ws, _) = tokio_tungstenite::connect_async(url)
            .await
            .expect("WebSocket connects");
        Raw { ws, next_id: 1 }
    }

    /// A client whose socket takes in little (a small receive buffer), so a
    /// client that stops reading backs up into the relay quickly.
    pub(crate) async fn narrow(url: &str, token: &str) -> Raw {
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
    pub(crate) async fn session(url: &str, token: &str) -> Raw {
        let mut raw = Raw::connect(url).await;
        let a = raw.command(json!({"connect": {"token": token}})).await;
        assert!(
            matches!(&a, Answer::Replies(r) if r[0]["connect"]["client"].is_string()),
            "{a:?}"
        );
        raw
    }

    pub(crate) async fn send(&mut self, m: Message) {
        self.ws.send(m).await.expect("send");
    }

    /// The next non-ping frame (its replies), or the close code.
    pub(crate) async fn answer(&mut self) -> Answer {
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
    pub(crate) async fn command(&mut self, mut cmd: Value) -> Answer {
        cmd["id"] = json!(self.next_id);
        self.next_id += 1;
        self.send(Message::text(cmd.to_string())).await;
        self.answer().await
    }

    /// The error code of a command's reply (0 if it succeeded).
    pub(crate) async fn error_of(&mut self, cmd: Value) -> u64 {
        match self.command(cmd).await {
            Answer::Replies(r) => r
                .iter()
                .find(|r| r.get("id").is_some())
                .map_or(0, |r| r["error"]["code"].as_u64().unwrap_or(0)),
            other => panic!("expected a reply, got {other:?}"),
        }
    }
}

pub(crate) fn closed_with(a: Answer) -> u16 {
    match a {
        Answer::Closed(code) => code,
        other => panic!("expected a close, got {other:?}"),
    }
}
