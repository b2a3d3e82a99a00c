//! The admin API's webhook route: `POST /v1/webhooks/ping` sends a test
//! event to the webhook URL now and answers with what the receiver did
//! (`webhooks::ping`).

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Json, Router};

use crate::admin::{AdminState, ApiError};

pub(crate) fn routes() -> Router<AdminState> {
    Router::new().route("/v1/webhooks/ping", post(ping))
}

/// 200 with the result when the receiver answered 2xx; 502 with the same
/// fields and an `error` when it did not (so `curl -f` fails); 409 when
/// this scheduler sends no webhooks.
async fn ping(State(state): State<AdminState>) -> Response {
    let Some(pinger) = &state.webhooks else {
        return ApiError::new(
            StatusCode::CONFLICT,
            "webhooks are off on this scheduler: start it with --webhook-url (LIVEFLEET_WEBHOOK_URL)",
        )
        .into_response();
    };
    let result = pinger.ping().await;
    let status = if result.delivered {
        StatusCode::OK
    } else {
        StatusCode::BAD_GATEWAY
    };
    (status, Json(result)).into_response()
}
