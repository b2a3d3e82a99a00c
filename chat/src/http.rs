//! The relay's HTTP side: the WebSocket endpoint, chat ranges by media
//! time, `/metrics` and `/healthz`.

use std::collections::HashSet;
use std::sync::Arc;

use async_nats::jetstream::consumer::DeliverPolicy;
use axum::extract::{Path, Query, State, WebSocketUpgrade};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use serde::Deserialize;
use tokio::sync::Semaphore;

use crate::message::{ChatData, ChatMessage};
use crate::relay::Relay;

/// How far before a range's start a message may have been sent and still
/// be stamped into it (the clamp window, generously).
const STAMP_WINDOW_MS: i64 = 10 * 60 * 1000;
/// History entries one range request reads at most.
const MAX_SCAN: usize = 20_000;
/// The WebSocket read buffer of one connection.
const READ_BUFFER: usize = 4 * 1024;
/// Messages one range answer holds at most.
const MAX_RANGE: usize = 5_000;

#[derive(Clone)]
struct AppState {
    relay: Arc<Relay>,
    slots: Arc<Semaphore>,
}

/// The relay's router; `registry` is served at `/metrics`.
pub fn router(relay: Arc<Relay>, registry: prometheus::Registry) -> Router {
    let state = AppState {
        slots: Arc::new(Semaphore::new(relay.config.max_connections.max(1))),
        relay,
    };
    Router::new()
        .route("/connection/websocket", get(websocket))
        .route("/v1/chat/{channel}", get(range))
        .with_state(state)
        .merge(livefleet_http::metrics_router(registry))
        .layer(tower_http::cors::CorsLayer::permissive())
}

async fn websocket(State(state): State<AppState>, upgrade: WebSocketUpgrade) -> Response {
    let Ok(permit) = state.slots.clone().try_acquire_owned() else {
        tracing::warn!(
            max = state.relay.config.max_connections,
            "chat connection limit reached; refusing a WebSocket"
        );
        state
            .relay
            .metrics
            .disconnect(crate::protocol::disconnect::CONNECTION_LIMIT);
        return (StatusCode::SERVICE_UNAVAILABLE, "connection limit reached").into_response();
    };
    let limit = state.relay.config.max_frame_bytes;
    let relay = state.relay.clone();
    // tungstenite reads into a 128 KiB buffer by default: per idle
    // connection that dwarfs everything else. Frames are small here.
    upgrade
        .max_frame_size(limit)
        .max_message_size(limit)
        .read_buffer_size(READ_BUFFER)
        .write_buffer_size(0)
        .on_upgrade(move |socket| async move {
            crate::conn::serve(relay, socket).await;
            drop(permit);
        })
}

#[derive(Deserialize)]
struct RangeQuery {
    from: Option<String>,
    to: Option<String>,
}

/// Unix ms from a query value: a number of milliseconds or ISO 8601.
fn instant(text: &str) -> Option<i64> {
    text.parse::<i64>()
        .ok()
        .or_else(|| livefleet_base::clock::parse_iso8601(text))
}

fn bad(reason: &str) -> Response {
    (
        StatusCode::BAD_REQUEST,
        axum::Json(serde_json::json!({"error": reason})),
    )
        .into_response()
}

/// `GET /v1/chat/<channel>?from=..&to=..`: the messages whose media time
/// lies in `[from, to)`, deleted ones left out, in media-time order.
async fn range(
    State(state): State<AppState>,
    Path(channel): Path<String>,
    Query(q): Query<RangeQuery>,
) -> Response {
    let relay = &state.relay;
    let Ok(channel) = relay.channel(&channel).await else {
        return (
            StatusCode::NOT_FOUND,
            axum::Json(serde_json::json!({"error": "no such channel"})),
        )
            .into_response();
    };
    let from = match q.from.as_deref().map(instant) {
        Some(Some(t)) => t,
        None => 0,
        Some(None) => return bad("from: not Unix milliseconds or ISO 8601"),
    };
    let to = match q.to.as_deref().map(instant) {
        Some(Some(t)) => t,
        None => i64::MAX,
        Some(None) => return bad("to: not Unix milliseconds or ISO 8601"),
    };
    if from > to {
        return bad("from is after to");
    }
    let position = match relay.history.position(&channel).await {
        Ok(p) => p,
        Err(e) => {
            tracing::warn!(%channel, error = %e, "chat range: history not readable");
            return StatusCode::SERVICE_UNAVAILABLE.into_response();
        }
    };
    let mut messages: Vec<(u64, ChatMessage)> = Vec::new();
    let mut deleted = HashSet::new();
    if position.last > 0 {
        let start = from.saturating_sub(STAMP_WINDOW_MS).max(0);
        let start = match async_nats::datetime::from_nanos(i128::from(start) * 1_000_000) {
            Ok(t) => DeliverPolicy::ByStartTime { start_time: t },
            Err(_) => DeliverPolicy::All,
        };
        let mut seen = 0usize;
        let scanned = relay
            .history
            .scan(
                &channel,
                start,
                |offset, _, p| {
                    seen += 1;
                    match serde_json::from_str::<ChatData>(p.data.get()) {
                        Ok(ChatData::Message(m)) if m.media_time >= from && m.media_time < to => {
                            messages.push((offset, m))
                        }
                        Ok(ChatData::Delete { id, .. }) => {
                            deleted.insert(id);
                        }
                        _ => {}
                    }
                    seen < MAX_SCAN
                },
                position.last,
            )
            .await;
        if let Err(e) = scanned {
            tracing::warn!(%channel, error = %e, "chat range: history not readable");
            return StatusCode::SERVICE_UNAVAILABLE.into_response();
        }
    }
    messages.retain(|(_, m)| !deleted.contains(&m.id));
    messages.sort_by_key(|(offset, m)| (m.media_time, *offset));
    messages.truncate(MAX_RANGE);
    let body: Vec<ChatMessage> = messages.into_iter().map(|(_, m)| m).collect();
    (
        [(header::CACHE_CONTROL, "public, max-age=1")],
        axum::Json(serde_json::json!({"channel": channel.as_str(), "messages": body})),
    )
        .into_response()
}
