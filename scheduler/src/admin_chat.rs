//! The admin API's chat routes: connection tokens, bans and timeouts,
//! message deletion. Bans go to the moderation bucket every relay watches;
//! a deletion is stored in the channel's chat history, which every relay
//! delivers.

use std::sync::Arc;
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, post};
use axum::{Json, Router};
use livefleet_chat::history::History;
use livefleet_chat::{ChatConfig, Moderation, ModerationError, TokenKey};
use serde::Deserialize;
use serde_json::json;

use crate::admin::{channel_name, internal, json_body, AdminState, ApiError, ApiResult};

/// What the chat routes need.
#[derive(Clone)]
pub struct ChatAdmin {
    /// Signs tokens; `None` when no chat secret is configured.
    pub key: Option<TokenKey>,
    pub moderation: Moderation,
    pub history: Arc<History>,
}

impl ChatAdmin {
    /// Opens the moderation bucket; the histories are opened on use.
    pub async fn open(
        js: &async_nats::jetstream::Context,
        key: Option<TokenKey>,
    ) -> Result<Self, ModerationError> {
        let defaults = ChatConfig::default();
        Ok(Self {
            key,
            moderation: Moderation::open(js).await?,
            history: Arc::new(History::new(
                js.clone(),
                defaults.history_size,
                Duration::from_secs(defaults.history_ttl_s),
            )),
        })
    }
}

/// The longest token lifetime the API issues: 30 days.
const MAX_TTL_S: i64 = 30 * 86_400;

pub(crate) fn routes() -> Router<AdminState> {
    Router::new()
        .route("/v1/chat/tokens", post(issue_token))
        .route("/v1/chat/{channel}/bans", post(ban))
        .route("/v1/chat/{channel}/bans/{user}", delete(unban))
        .route("/v1/chat/{channel}/messages/{id}", delete(delete_message))
}

fn chat(state: &AdminState) -> ApiResult<&ChatAdmin> {
    state.chat.as_ref().ok_or_else(|| {
        ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "chat is not available on this scheduler",
        )
    })
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TokenRequest {
    user: String,
    name: Option<String>,
    #[serde(default)]
    moderator: bool,
    /// Lifetime in seconds (default a day, at most 30 days).
    ttl_s: Option<i64>,
}

async fn issue_token(State(state): State<AdminState>, body: Bytes) -> ApiResult<Response> {
    let chat = chat(&state)?;
    let req: TokenRequest = json_body(&body)?;
    if req.user.is_empty() || req.user.len() > 128 || req.user.chars().any(char::is_control) {
        return Err(ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "user must be 1 to 128 printable characters",
        ));
    }
    let ttl = req.ttl_s.unwrap_or(86_400);
    if !(1..=MAX_TTL_S).contains(&ttl) {
        return Err(ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            format!("ttl_s must be 1 to {MAX_TTL_S}"),
        ));
    }
    let Some(key) = &chat.key else {
        return Err(ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "no chat secret: set LIVEFLEET_CHAT_SECRET for the scheduler",
        ));
    };
    let now = livefleet_base::now_unix_ms() / 1000;
    let token = key.issue(
        &req.user,
        req.name.as_deref(),
        req.moderator,
        now,
        Some(ttl),
    );
    tracing::info!(user = %req.user, moderator = req.moderator, ttl, "chat token issued");
    Ok((
        StatusCode::CREATED,
        Json(json!({"token": token, "expires_unix_s": now + ttl})),
    )
        .into_response())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct BanRequest {
    user: String,
    /// A timeout of this many seconds; without it, a ban.
    seconds: Option<u64>,
    #[serde(default)]
    reason: String,
}

async fn ban(
    State(state): State<AdminState>,
    Path(channel): Path<String>,
    body: Bytes,
) -> ApiResult<Response> {
    let chat = chat(&state)?;
    let channel = channel_name(&channel)?;
    let req: BanRequest = json_body(&body)?;
    if state
        .registry
        .get(&channel)
        .await
        .map_err(internal)?
        .is_none()
    {
        return Err(ApiError::new(
            StatusCode::NOT_FOUND,
            format!("no channel {channel}"),
        ));
    }
    let ban = chat
        .moderation
        .ban(&channel, &req.user, req.seconds, "admin", &req.reason)
        .await
        .map_err(|e| match e {
            ModerationError::BadUser => {
                ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, e.to_string())
            }
            e => internal(e),
        })?;
    tracing::info!(%channel, user = %req.user, seconds = ?req.seconds, "chat ban from the admin API");
    Ok((StatusCode::CREATED, Json(json!(ban))).into_response())
}

async fn unban(
    State(state): State<AdminState>,
    Path((channel, user)): Path<(String, String)>,
) -> ApiResult<StatusCode> {
    let chat = chat(&state)?;
    let channel = channel_name(&channel)?;
    chat.moderation
        .unban(&channel, &user)
        .await
        .map_err(internal)?;
    Ok(StatusCode::NO_CONTENT)
}

async fn delete_message(
    State(state): State<AdminState>,
    Path((channel, id)): Path<(String, String)>,
) -> ApiResult<StatusCode> {
    let chat = chat(&state)?;
    let channel = channel_name(&channel)?;
    if !livefleet_chat::message::is_message_id(&id) {
        return Err(ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "a message id is 1 to 64 letters and digits",
        ));
    }
    if state
        .registry
        .get(&channel)
        .await
        .map_err(internal)?
        .is_none()
    {
        return Err(ApiError::new(
            StatusCode::NOT_FOUND,
            format!("no channel {channel}"),
        ));
    }
    chat.history
        .delete_message(&channel, &id, "admin")
        .await
        .map_err(internal)?;
    tracing::info!(%channel, message = %id, "chat message deleted from the admin API");
    Ok(StatusCode::NO_CONTENT)
}
