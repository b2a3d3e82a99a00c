//! One WebSocket connection: reads commands, answers them, and writes the
//! pushes its rooms queue for it. See docs/chat.md for the subset of the
//! protocol served and every limit.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::ws::{CloseFrame, Message, Utf8Bytes, WebSocket};
use bytes::Bytes;
use futures::{SinkExt, StreamExt};
use livefleet_base::{now_unix_ms, ChannelName};
use serde_json::json;
use tokio::sync::mpsc;
use tokio::time::timeout;
use tracing::Instrument;

use crate::hub::{Kick, Out};
use crate::limits::TokenBucket;
use crate::protocol::{self, disconnect, error, Command};
use crate::relay::Relay;
use crate::token::Identity;

mod auth;
mod publish;
mod rooms;

/// A client that has not connected within this is closed (Centrifugo's "stale").
const CONNECT_WITHIN: Duration = Duration::from_secs(10);
/// A write that the client does not take within this closes the connection.
const WRITE_WITHIN: Duration = Duration::from_secs(10);
/// Refused publishes in a row after which the connection is closed (3013).
const FLOOD: u32 = 20;
/// Pushes written in one frame at most.
const BATCH: usize = 64;

struct Subscription {
    /// Highest offset sent; stored publications up to it are not sent again.
    offset: u64,
}

struct Conn {
    relay: Arc<Relay>,
    id: u64,
    client: String,
    connected: bool,
    identity: Option<Identity>,
    subs: HashMap<ChannelName, Subscription>,
    buckets: HashMap<ChannelName, TokenBucket>,
    refused_in_a_row: u32,
    tx: mpsc::Sender<Out>,
    kick: Arc<Kick>,
}

/// What handling a frame asks of the connection loop.
struct Handled {
    replies: Vec<Bytes>,
    close: Option<u16>,
}

/// Serves `socket` until it closes.
pub async fn serve(relay: Arc<Relay>, socket: WebSocket) {
    let metrics = relay.metrics.clone();
    metrics.connections.inc();
    let (tx, rx) = mpsc::channel(relay.config.queue_messages);
    let mut conn = Conn {
        id: relay.hub.next_conn(),
        client: crate::relay::message_id(),
        relay,
        connected: false,
        identity: None,
        subs: HashMap::new(),
        buckets: HashMap::new(),
        refused_in_a_row: 0,
        tx,
        kick: Arc::new(Kick::default()),
    };
    let span = tracing::info_span!("chat_connection", client = %conn.client);
    let code = conn.run(socket, rx).instrument(span).await;
    metrics.disconnect(code);
    for channel in conn.subs.keys().cloned().collect::<Vec<_>>() {
        conn.left(&channel).await;
    }
    metrics.connections.dec();
}

impl Conn {
    async fn run(&mut self, socket: WebSocket, mut rx: mpsc::Receiver<Out>) -> u16 {
        let (mut sink, mut stream) = socket.split();
        let ping_every = Duration::from_secs(self.relay.config.ping_interval_s.max(1));
        let pong_within = Duration::from_secs(self.relay.config.pong_timeout_s.max(1));
        let now = tokio::time::Instant::now();
        let mut next_ping = now + ping_every;
        let mut pong_due: Option<tokio::time::Instant> = None;
        let connect_by = now + CONNECT_WITHIN;
        // One timer for every deadline (ping, pong, connect, token expiry),
        // reset only when the earliest one changes: a push costs no timer work.
        let timer = tokio::time::sleep_until(connect_by);
        tokio::pin!(timer);
        let mut armed = connect_by;
        let kick = self.kick.clone();
        let kicked = kick.kicked();
        tokio::pin!(kicked);
        let code: u16 = loop {
            let deadline = if self.connected {
                let mut d = next_ping;
                if let Some(p) = pong_due {
                    d = d.min(p);
                }
                if let Some(e) = self.expiry() {
                    d = d.min(e);
                }
                d
            } else {
                connect_by
            };
            if deadline != armed {
                timer.as_mut().reset(deadline);
                armed = deadline;
            }
            let handled = tokio::select! {
                frame = stream.next() => match frame {
                    // Boxed: the command futures are large, and an idle
                    // connection should not carry their state.
                    Some(Ok(Message::Text(text))) => Box::pin(self.handle_frame(text.as_str(), &mut pong_due)).await,
                    Some(Ok(Message::Binary(_))) => {
                        tracing::info!("binary frame on the JSON protocol; disconnecting");
                        Handled { replies: vec![], close: Some(disconnect::BAD_REQUEST) }
                    }
                    Some(Ok(Message::Ping(_) | Message::Pong(_))) => continue,
                    Some(Ok(Message::Close(_))) | None => break 0,
                    Some(Err(e)) => {
                        let text = e.to_string().to_lowercase();
                        tracing::info!(error = %e, "WebSocket read failed; disconnecting");
                        if text.contains("too long") || text.contains("size") {
                            let _ = close(&mut sink, 1009, "message size limit exceeded").await;
                            break 1009;
                        }
                        break 0;
                    }
                },
                out = rx.recv() => {
                    let Some(out) = out else { break 0 };
                    let mut batch = Vec::with_capacity(8);
                    self.accept(out, &mut batch);
                    while batch.len() < BATCH {
                        match rx.try_recv() {
                            Ok(o) => self.accept(o, &mut batch),
                            Err(_) => break,
                        }
                    }
                    Handled { replies: batch, close: None }
                }
                code = &mut kicked => {
                    tracing::info!(code, "disconnecting: {}", disconnect::reason(code));
                    Handled { replies: vec![], close: Some(code) }
                }
                () = &mut timer => {
                    let now = tokio::time::Instant::now();
                    if !self.connected {
                        Handled { replies: vec![], close: Some(disconnect::BAD_REQUEST) }
                    } else if pong_due.is_some_and(|p| p <= now) {
                        Handled { replies: vec![], close: Some(disconnect::NO_PONG) }
                    } else if self.expiry().is_some_and(|e| e <= now) {
                        Handled { replies: vec![], close: Some(disconnect::EXPIRED) }
                    } else {
                        next_ping = now + ping_every;
                        if pong_due.is_none() {
                            pong_due = Some(now + pong_within);
                        }
                        Handled { replies: vec![Bytes::from_static(b"{}")], close: None }
                    }
                }
            };
            if !handled.replies.is_empty() && !write(&mut sink, handled.replies).await {
                tracing::info!("the client does not read; disconnecting as slow");
                break disconnect::SLOW;
            }
            if let Some(code) = handled.close {
                let _ = close(&mut sink, code, disconnect::reason(code)).await;
                break code;
            }
        };
        code
    }

    /// When the connection's token runs out, if it does.
    fn expiry(&self) -> Option<tokio::time::Instant> {
        let exp_s = self.identity.as_ref()?.expires?;
        let left_ms = (exp_s * 1000 - now_unix_ms()).max(0) as u64;
        Some(tokio::time::Instant::now() + Duration::from_millis(left_ms))
    }

    /// Queues `out` for writing unless it repeats a publication already sent.
    fn accept(&mut self, out: Out, batch: &mut Vec<Bytes>) {
        match out {
            Out::Publication {
                channel,
                offset,
                text,
            } => {
                let Some(sub) = self.subs.get_mut(&*channel) else {
                    return;
                };
                if offset <= sub.offset {
                    return;
                }
                sub.offset = offset;
                batch.push(text);
            }
            Out::Push(text) => batch.push(text),
        }
    }

    async fn handle_frame(
        &mut self,
        text: &str,
        pong_due: &mut Option<tokio::time::Instant>,
    ) -> Handled {
        let commands = match protocol::parse_frame(text) {
            Ok(c) => c,
            Err(reason) => {
                tracing::info!(%reason, "malformed command; disconnecting");
                return Handled {
                    replies: vec![],
                    close: Some(disconnect::BAD_REQUEST),
                };
            }
        };
        let mut replies = Vec::new();
        for cmd in commands {
            if cmd.is_pong() {
                *pong_due = None;
                continue;
            }
            match self.handle(cmd).await {
                Ok(Some(reply)) => replies.push(Bytes::from(reply)),
                Ok(None) => {}
                Err(code) => {
                    return Handled {
                        replies,
                        close: Some(code),
                    }
                }
            }
        }
        Handled {
            replies,
            close: None,
        }
    }

    /// Answers one command; `Err` closes the connection with that code.
    async fn handle(&mut self, cmd: Command) -> Result<Option<String>, u16> {
        let id = cmd.id;
        let m = &self.relay.metrics;
        if let Some(req) = cmd.connect {
            m.command("connect");
            return self.connect(id, &req.token).map(Some);
        }
        if !self.connected {
            tracing::info!("a command before connect; disconnecting");
            return Err(disconnect::BAD_REQUEST);
        }
        if cmd.send.is_some() {
            m.command("send");
            return Ok(None);
        }
        if id == 0 {
            tracing::info!("a command without an id; disconnecting");
            return Err(disconnect::BAD_REQUEST);
        }
        let answer = if let Some(req) = cmd.subscribe {
            m.command("subscribe");
            self.subscribe(id, req).await
        } else if let Some(req) = cmd.unsubscribe {
            m.command("unsubscribe");
            self.unsubscribe(id, &req.channel).await
        } else if let Some(req) = cmd.publish {
            m.command("publish");
            return self.publish(id, &req.channel, req.data.get()).await;
        } else if let Some(req) = cmd.history {
            m.command("history");
            self.history(id, req).await
        } else if let Some(req) = cmd.presence_stats {
            m.command("presence_stats");
            match self.readable(&req.channel).await {
                Ok(channel) => {
                    let (clients, users) = self.relay.viewers(&channel);
                    Ok(protocol::reply(
                        id,
                        "presence_stats",
                        &json!({"num_clients": clients, "num_users": users}),
                    ))
                }
                Err(code) => Err(code),
            }
        } else if cmd.presence.is_some() {
            m.command("presence");
            Err(error::NOT_AVAILABLE)
        } else if cmd.ping.is_some() {
            m.command("ping");
            Ok(protocol::reply(id, "ping", &json!({})))
        } else if let Some(req) = cmd.rpc {
            m.command("rpc");
            self.rpc(
                id,
                &req.method,
                req.data.as_deref().map_or("{}", |d| d.get()),
            )
            .await
        } else if let Some(req) = cmd.refresh {
            m.command("refresh");
            return self.refresh(id, &req.token).map(Some);
        } else if cmd.sub_refresh.is_some() {
            m.command("unknown");
            Err(error::NOT_AVAILABLE)
        } else {
            m.command("unknown");
            Err(error::METHOD_NOT_FOUND)
        };
        Ok(Some(
            answer.unwrap_or_else(|code| protocol::error_reply(id, code)),
        ))
    }
}

/// Writes `parts` as one frame (newline-separated). A write the client does
/// not take at once gets [`WRITE_WITHIN`]; false when it did not finish.
async fn write(
    sink: &mut futures::stream::SplitSink<WebSocket, Message>,
    parts: Vec<Bytes>,
) -> bool {
    let body = if parts.len() == 1 {
        parts.into_iter().next().unwrap_or_default()
    } else {
        let mut joined = bytes::BytesMut::with_capacity(parts.iter().map(|p| p.len() + 1).sum());
        for (i, p) in parts.iter().enumerate() {
            if i > 0 {
                joined.extend_from_slice(b"\n");
            }
            joined.extend_from_slice(p);
        }
        joined.freeze()
    };
    let Ok(text) = Utf8Bytes::try_from(body) else {
        tracing::error!("a push was not UTF-8; dropped");
        return true;
    };
    let mut send = std::pin::pin!(sink.send(Message::Text(text)));
    let done = match futures::poll!(send.as_mut()) {
        std::task::Poll::Ready(r) => Ok(r),
        std::task::Poll::Pending => timeout(WRITE_WITHIN, send).await,
    };
    matches!(done, Ok(Ok(())))
}

async fn close(
    sink: &mut futures::stream::SplitSink<WebSocket, Message>,
    code: u16,
    reason: &str,
) -> Result<(), axum::Error> {
    let frame = CloseFrame {
        code,
        reason: Utf8Bytes::from(reason.to_owned()),
    };
    timeout(
        Duration::from_secs(2),
        sink.send(Message::Close(Some(frame))),
    )
    .await
    .unwrap_or(Ok(()))
}
