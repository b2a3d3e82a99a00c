//! The admin API's fleet routes: the workers heard from and their channels,
//! and drains, which go to the leading scheduler over NATS.

use std::collections::BTreeMap;
use std::time::Duration;

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::{Json, Router};
use futures::StreamExt;
use livefleet_fleet::{
    DrainReply, DrainRequest, Heartbeat, WorkerId, DRAIN_SUBJECT, HEARTBEAT_SUBJECT_FILTER,
};
use serde_json::json;

use crate::admin::{internal, AdminState, ApiError, ApiResult};

pub(crate) fn routes() -> Router<AdminState> {
    Router::new()
        .route("/v1/fleet", get(fleet))
        .route("/v1/nodes/{id}/drain", post(drain))
        .route("/v1/nodes/{id}/undrain", post(undrain))
}

/// Workers (from a moment of heartbeats) with their channels (from the assignments).
async fn fleet(State(state): State<AdminState>) -> ApiResult<Json<serde_json::Value>> {
    let mut beats = state
        .client
        .subscribe(HEARTBEAT_SUBJECT_FILTER)
        .await
        .map_err(internal)?;
    let mut seen: BTreeMap<String, Heartbeat> = BTreeMap::new();
    let deadline = tokio::time::Instant::now() + Duration::from_millis(1200);
    while let Ok(Some(m)) = tokio::time::timeout_at(deadline, beats.next()).await {
        if let Ok(hb) = Heartbeat::decode(&m.payload) {
            seen.insert(hb.worker.to_string(), hb);
        }
    }
    let assignments = state.assignments.list().await.map_err(internal)?;
    let workers: Vec<serde_json::Value> = seen
        .values()
        .map(|hb| {
            let channels: Vec<serde_json::Value> = assignments
                .iter()
                .filter(|a| a.worker.as_ref() == Some(&hb.worker))
                .map(|a| json!({ "channel": a.channel.as_str(), "epoch": a.epoch }))
                .collect();
            json!({
                "id": hb.worker.as_str(),
                "state": format!("{:?}", hb.state).to_lowercase(),
                "encoders": hb.encoders.iter().map(|e| e.as_str()).collect::<Vec<_>>(),
                "gpu_model": hb.gpu_model,
                "gpu_load": hb.gpu_load,
                "nvenc_sessions_in_use": hb.nvenc_sessions_in_use,
                "nvenc_session_limit": hb.nvenc_session_limit,
                "capacity_cpu_pps": hb.capacity_cpu_pps,
                "capacity_nvenc_pps": hb.capacity_nvenc_pps,
                "load_average": hb.load_average,
                "channels": channels,
            })
        })
        .collect();
    let orphaned: Vec<serde_json::Value> = assignments
        .iter()
        .filter(|a| {
            a.worker
                .as_ref()
                .is_some_and(|w| !seen.contains_key(w.as_str()))
        })
        .map(|a| json!({ "channel": a.channel.as_str(), "epoch": a.epoch }))
        .collect();
    Ok(Json(json!({ "workers": workers, "orphaned": orphaned })))
}

async fn drain_request(state: &AdminState, id: &str, undrain: bool) -> ApiResult<Json<DrainReply>> {
    let worker = WorkerId::new(id)
        .map_err(|e| ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, format!("worker id: {e}")))?;
    let body = serde_json::to_vec(&DrainRequest { worker, undrain }).map_err(internal)?;
    let answer = tokio::time::timeout(
        Duration::from_secs(30),
        state.client.request(DRAIN_SUBJECT, body.into()),
    )
    .await
    .map_err(|_| {
        ApiError::new(
            StatusCode::GATEWAY_TIMEOUT,
            "the leading scheduler did not answer in time",
        )
    })?
    .map_err(|e| {
        ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            format!("no leading scheduler answered: {e}"),
        )
    })?;
    let reply: DrainReply = serde_json::from_slice(&answer.payload).map_err(internal)?;
    if reply.unknown_worker {
        return Err(ApiError::new(
            StatusCode::NOT_FOUND,
            reply.error.unwrap_or_else(|| format!("no worker {id}")),
        ));
    }
    if !reply.ok {
        return Err(ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            reply.error.unwrap_or_else(|| "refused".into()),
        ));
    }
    Ok(Json(reply))
}

async fn drain(
    State(state): State<AdminState>,
    Path(id): Path<String>,
) -> ApiResult<Json<DrainReply>> {
    drain_request(&state, &id, false).await
}

async fn undrain(
    State(state): State<AdminState>,
    Path(id): Path<String>,
) -> ApiResult<Json<DrainReply>> {
    drain_request(&state, &id, true).await
}
