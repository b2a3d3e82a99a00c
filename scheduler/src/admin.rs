//! The admin HTTP API (JSON, bearer token): channels here; ladder profiles
//! (`admin_profiles`), the fleet and drains (`admin_fleet`), chat tokens and
//! moderation ([`crate::admin_chat`]) and archived broadcasts
//! ([`crate::admin_archive`]) in their own modules. Every scheduler replica
//! serves it; state lives in KV, drains go to the leader over NATS. Described
//! in `docs/api/openapi.yaml`.

use async_nats::jetstream::{self, kv};
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, Path, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use livefleet_base::ChannelName;
use livefleet_bus::{
    generate_stream_key, validate_stream_key, BusError, ChannelRecord, ChannelRegistry,
};
use livefleet_fleet::Assignments;
use livefleet_profile::LadderProfile;
use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::admin_profiles::{profile_errors, profile_name, profile_size};

/// KV bucket of uploaded ladder profiles (key = profile name, value = YAML).
pub const PROFILES_BUCKET: &str = "livefleet_profiles";
/// Largest request body.
const MAX_BODY: usize = 1 << 20;
/// Largest ladder profile (uploaded, or inline in a channel): it is stored
/// in the channel record, which must fit a NATS message (1 MiB by default)
/// with room to spare. Real ladders are a few hundred bytes.
pub const MAX_PROFILE_BYTES: usize = 256 << 10;

/// Why the API could not open the buckets it serves.
#[derive(Debug, thiserror::Error)]
pub enum AdminError {
    #[error(transparent)]
    Bus(#[from] BusError),
    #[error(transparent)]
    Fleet(#[from] livefleet_fleet::FleetError),
    #[error(transparent)]
    Moderation(#[from] livefleet_chat::ModerationError),
}

/// What the API needs.
#[derive(Clone)]
pub struct AdminState {
    pub client: async_nats::Client,
    pub registry: ChannelRegistry,
    pub assignments: Assignments,
    pub profiles: kv::Store,
    pub token: String,
    pub rtmp_base_url: String,
    pub playback_base_url: String,
    /// VOD URL base (`<base>/<channel>/<broadcast>/master.m3u8`).
    pub vod_base_url: String,
    /// The archived broadcasts.
    pub broadcasts: livefleet_bus::BroadcastIndex,
    /// The chat routes' state (tokens, moderation).
    pub chat: Option<crate::admin_chat::ChatAdmin>,
    /// Test events to the webhook URL, where webhooks are on.
    pub webhooks: Option<crate::webhooks::Pinger>,
}

impl AdminState {
    /// Opens the buckets the API uses.
    pub async fn open(
        client: async_nats::Client,
        token: String,
        rtmp_base_url: String,
        playback_base_url: String,
        chat_key: Option<livefleet_chat::TokenKey>,
    ) -> Result<Self, AdminError> {
        let js = jetstream::new(client.clone());
        Ok(Self {
            chat: Some(crate::admin_chat::ChatAdmin::open(&js, chat_key).await?),
            registry: ChannelRegistry::open(&js).await?,
            assignments: Assignments::open(&js).await?,
            profiles: livefleet_fleet::open_bucket(
                &js,
                PROFILES_BUCKET,
                "livefleet ladder profiles",
                1,
            )
            .await?,
            broadcasts: livefleet_bus::BroadcastIndex::open(&js).await?,
            webhooks: None,
            vod_base_url: crate::admin_archive::vod_base_for(&playback_base_url),
            client,
            token,
            rtmp_base_url: rtmp_base_url.trim_end_matches('/').to_string(),
            playback_base_url: playback_base_url.trim_end_matches('/').to_string(),
        })
    }
}

/// An API error: status and a JSON body `{error, errors?}`.
pub(crate) struct ApiError {
    status: StatusCode,
    message: String,
    errors: Option<Vec<serde_json::Value>>,
}

impl ApiError {
    pub(crate) fn new(status: StatusCode, message: impl Into<String>) -> Self {
        Self {
            status,
            message: message.into(),
            errors: None,
        }
    }

    /// An error with a list of details (`errors` in the body).
    pub(crate) fn with_errors(
        status: StatusCode,
        message: impl Into<String>,
        errors: Vec<serde_json::Value>,
    ) -> Self {
        Self {
            errors: Some(errors),
            ..Self::new(status, message)
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut body = json!({ "error": self.message });
        if let Some(errors) = self.errors {
            body["errors"] = json!(errors);
        }
        (self.status, Json(body)).into_response()
    }
}

pub(crate) type ApiResult<T> = Result<T, ApiError>;

/// Errors the framework answers itself (a body over the limit, a bad path)
/// get the API's JSON error shape too.
async fn json_errors(response: Response) -> Response {
    let status = response.status();
    let is_json = response
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"));
    if !(status.is_client_error() || status.is_server_error()) || is_json {
        return response;
    }
    let message = match status {
        StatusCode::PAYLOAD_TOO_LARGE => format!("the request body is over {MAX_BODY} bytes"),
        StatusCode::NOT_FOUND => "no such route".to_owned(),
        StatusCode::METHOD_NOT_ALLOWED => "method not allowed on this route".to_owned(),
        other => other
            .canonical_reason()
            .unwrap_or("request refused")
            .to_lowercase(),
    };
    ApiError::new(status, message).into_response()
}

pub(crate) fn internal(e: impl std::fmt::Display) -> ApiError {
    tracing::warn!("admin API: {e}");
    ApiError::new(
        StatusCode::SERVICE_UNAVAILABLE,
        format!("the bus is not available: {e}"),
    )
}

/// Every (method, path) the router serves; `docs/api/openapi.yaml` must list
/// exactly these (checked by the API test).
pub const ROUTES: &[(&str, &str)] = &[
    ("get", "/healthz"),
    ("get", "/v1/channels"),
    ("post", "/v1/channels"),
    ("get", "/v1/channels/{name}"),
    ("get", "/v1/channels/{name}/broadcasts"),
    ("delete", "/v1/channels/{name}"),
    ("post", "/v1/channels/{name}/stream-key"),
    ("get", "/v1/profiles"),
    ("get", "/v1/profiles/{name}"),
    ("put", "/v1/profiles/{name}"),
    ("get", "/v1/fleet"),
    ("post", "/v1/nodes/{id}/drain"),
    ("post", "/v1/nodes/{id}/undrain"),
    ("post", "/v1/chat/tokens"),
    ("post", "/v1/chat/{channel}/bans"),
    ("delete", "/v1/chat/{channel}/bans/{user}"),
    ("delete", "/v1/chat/{channel}/messages/{id}"),
    ("post", "/v1/webhooks/ping"),
];

/// The router; every route but `/healthz` needs `Authorization: Bearer <token>`.
pub fn router(state: AdminState) -> Router {
    let api = Router::new()
        .route("/v1/channels", get(list_channels).post(create_channel))
        .route(
            "/v1/channels/{name}",
            get(get_channel).delete(delete_channel),
        )
        .route("/v1/channels/{name}/stream-key", post(rotate_stream_key))
        .merge(crate::admin_profiles::routes())
        .merge(crate::admin_fleet::routes())
        .merge(crate::admin_chat::routes())
        .merge(crate::admin_archive::routes())
        .merge(crate::admin_webhooks::routes())
        .route_layer(axum::middleware::from_fn_with_state(
            state.clone(),
            authorize,
        ));
    Router::new()
        .route("/healthz", get(|| async { "ok" }))
        .merge(api)
        .layer(DefaultBodyLimit::max(MAX_BODY))
        .layer(axum::middleware::map_response(json_errors))
        .with_state(state)
}

async fn authorize(
    State(state): State<AdminState>,
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    let given = request
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "));
    // Compare in constant time over the token's length.
    let ok = given.is_some_and(|g| {
        g.len() == state.token.len()
            && g.bytes()
                .zip(state.token.bytes())
                .fold(0u8, |acc, (a, b)| acc | (a ^ b))
                == 0
    });
    if !ok || state.token.is_empty() {
        tracing::warn!(path = %request.uri().path(), "admin API: missing or wrong bearer token");
        return ApiError::new(StatusCode::UNAUTHORIZED, "missing or wrong bearer token")
            .into_response();
    }
    next.run(request).await
}

/// A channel as the API shows it.
#[derive(Debug, Serialize, Deserialize)]
pub struct ChannelView {
    pub name: String,
    pub profile: String,
    pub stream_key: String,
    pub rtmp_url: String,
    pub hls_url: String,
    pub dash_url: String,
    /// The channel's preview picture, renewed at every segment while it is live.
    #[serde(default)]
    pub thumbnail_url: String,
    pub created_unix_ms: i64,
    /// The broadcast on the air now; `null` when the channel is off the air.
    #[serde(default)]
    pub live: Option<crate::admin_live::LiveView>,
}

fn view(state: &AdminState, rec: &ChannelRecord) -> ChannelView {
    ChannelView {
        name: rec.name.to_string(),
        profile: rec.profile_name.clone(),
        stream_key: rec.stream_key.clone(),
        rtmp_url: format!("{}/{}", state.rtmp_base_url, rec.stream_key),
        hls_url: format!("{}/{}/master.m3u8", state.playback_base_url, rec.name),
        dash_url: format!("{}/{}/manifest.mpd", state.playback_base_url, rec.name),
        thumbnail_url: format!(
            "{}/{}/{}",
            state.playback_base_url,
            rec.name,
            livefleet_base::THUMBNAIL_PATH
        ),
        created_unix_ms: rec.created_unix_ms,
        live: None,
    }
}

pub(crate) fn channel_name(name: &str) -> ApiResult<ChannelName> {
    ChannelName::new(name).map_err(|e| {
        ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            format!("channel name: {e}"),
        )
    })
}

pub(crate) fn json_body<T: for<'de> Deserialize<'de>>(body: &Bytes) -> ApiResult<T> {
    serde_json::from_slice(body)
        .map_err(|e| ApiError::new(StatusCode::BAD_REQUEST, format!("bad JSON body: {e}")))
}

async fn list_channels(State(state): State<AdminState>) -> ApiResult<Json<Vec<ChannelView>>> {
    let list = state.registry.list().await.map_err(internal)?;
    let mut views: Vec<ChannelView> = list.iter().map(|r| view(&state, r)).collect();
    crate::admin_live::fill(&state, &mut views).await;
    Ok(Json(views))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CreateChannel {
    name: String,
    /// Name of an uploaded profile.
    #[serde(default)]
    profile: Option<String>,
    /// Or the profile itself.
    #[serde(default)]
    profile_yaml: Option<String>,
    #[serde(default)]
    stream_key: Option<String>,
}

async fn create_channel(State(state): State<AdminState>, body: Bytes) -> ApiResult<Response> {
    let req: CreateChannel = json_body(&body)?;
    let name = channel_name(&req.name)?;
    let (yaml, label) = match (req.profile, req.profile_yaml) {
        (Some(p), None) => {
            let p = profile_name(&p)?;
            let stored = state.profiles.get(&p).await.map_err(internal)?;
            let Some(bytes) = stored else {
                return Err(ApiError::new(
                    StatusCode::UNPROCESSABLE_ENTITY,
                    format!("no uploaded profile named {p:?}"),
                ));
            };
            (String::from_utf8_lossy(&bytes).into_owned(), p)
        }
        (None, Some(y)) => (y, "<request>".to_string()),
        _ => {
            return Err(ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "give exactly one of `profile` (an uploaded profile's name) or `profile_yaml`",
            ))
        }
    };
    profile_size(&yaml)?;
    let parsed = LadderProfile::from_yaml(&label, &yaml).map_err(profile_errors)?;
    let stream_key = match req.stream_key {
        Some(k) => {
            validate_stream_key(&k)
                .map_err(|e| ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, e.to_string()))?;
            k
        }
        None => generate_stream_key(),
    };
    let rec = ChannelRecord {
        name: name.clone(),
        stream_key,
        profile_yaml: yaml,
        profile_name: parsed.name.clone(),
        created_unix_ms: livefleet_base::now_unix_ms(),
    };
    match state.registry.create(rec.clone()).await {
        Ok(()) => {
            tracing::info!(channel = %name, profile = %parsed.name, "channel created through the admin API");
            Ok((StatusCode::CREATED, Json(view(&state, &rec))).into_response())
        }
        Err(e @ (BusError::AlreadyExists(_) | BusError::StreamKeyInUse(_))) => {
            Err(ApiError::new(StatusCode::CONFLICT, e.to_string()))
        }
        Err(e @ BusError::InvalidStreamKey(_)) => Err(ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            e.to_string(),
        )),
        Err(e) => Err(internal(e)),
    }
}

async fn get_channel(
    State(state): State<AdminState>,
    Path(name): Path<String>,
) -> ApiResult<Json<ChannelView>> {
    let name = channel_name(&name)?;
    match state.registry.get(&name).await.map_err(internal)? {
        Some(rec) => {
            let mut v = view(&state, &rec);
            v.live = crate::admin_live::live(&state, &name).await;
            Ok(Json(v))
        }
        None => Err(ApiError::new(
            StatusCode::NOT_FOUND,
            format!("no channel {name}"),
        )),
    }
}

async fn delete_channel(
    State(state): State<AdminState>,
    Path(name): Path<String>,
) -> ApiResult<StatusCode> {
    let name = channel_name(&name)?;
    if state.registry.delete(&name).await.map_err(internal)? {
        tracing::info!(channel = %name, "channel deleted through the admin API");
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(ApiError::new(
            StatusCode::NOT_FOUND,
            format!("no channel {name}"),
        ))
    }
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RotateKey {
    /// The new key; generated when absent.
    #[serde(default)]
    stream_key: Option<String>,
}

/// A new stream key for the channel; the old one stops working at once and
/// a publish running with it ends within the ingest's recheck interval.
async fn rotate_stream_key(
    State(state): State<AdminState>,
    Path(name): Path<String>,
    body: Bytes,
) -> ApiResult<Json<ChannelView>> {
    let name = channel_name(&name)?;
    let req: RotateKey = if body.is_empty() {
        RotateKey::default()
    } else {
        json_body(&body)?
    };
    let key = req.stream_key.unwrap_or_else(generate_stream_key);
    match state.registry.rotate_key(&name, key).await {
        Ok(rec) => {
            tracing::info!(channel = %name, "stream key rotated through the admin API");
            Ok(Json(view(&state, &rec)))
        }
        Err(e @ BusError::NotFound(_)) => Err(ApiError::new(StatusCode::NOT_FOUND, e.to_string())),
        Err(e @ (BusError::StreamKeyInUse(_) | BusError::Changed(_))) => {
            Err(ApiError::new(StatusCode::CONFLICT, e.to_string()))
        }
        Err(e @ BusError::InvalidStreamKey(_)) => Err(ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            e.to_string(),
        )),
        Err(e) => Err(internal(e)),
    }
}

/// Serves the API on `listener` until `shutdown` completes.
pub async fn serve(
    listener: tokio::net::TcpListener,
    state: AdminState,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    livefleet_http::serve(
        listener,
        router(state),
        livefleet_http::HttpLimits::default(),
        shutdown,
    )
    .await
}
