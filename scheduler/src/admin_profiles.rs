//! The admin API's ladder profile routes: profiles uploaded as YAML,
//! validated, and stored in KV ([`crate::admin::PROFILES_BUCKET`]) for channels to name.

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use futures::StreamExt;
use livefleet_profile::LadderProfile;
use serde_json::json;

use crate::admin::{internal, AdminState, ApiError, ApiResult, MAX_PROFILE_BYTES};

pub(crate) fn routes() -> Router<AdminState> {
    Router::new()
        .route("/v1/profiles", get(list_profiles))
        .route("/v1/profiles/{name}", get(get_profile).put(put_profile))
}

pub(crate) fn profile_size(yaml: &str) -> ApiResult<()> {
    if yaml.len() > MAX_PROFILE_BYTES {
        return Err(ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            format!(
                "the ladder profile is {} bytes; at most {MAX_PROFILE_BYTES} are stored",
                yaml.len()
            ),
        ));
    }
    Ok(())
}

pub(crate) fn profile_errors(e: livefleet_profile::ProfileErrors) -> ApiError {
    let errors = e
        .iter()
        .map(|p| json!({ "path": p.path, "message": p.message, "fix": p.fix }))
        .collect();
    ApiError::with_errors(
        StatusCode::UNPROCESSABLE_ENTITY,
        "the ladder profile is not valid",
        errors,
    )
}

pub(crate) fn profile_name(name: &str) -> ApiResult<String> {
    let ok = !name.is_empty()
        && name.len() <= 64
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_');
    if ok {
        Ok(name.to_string())
    } else {
        Err(ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            format!("profile name {name:?}: profile names are 1-64 characters of [a-z0-9_-]"),
        ))
    }
}

async fn list_profiles(State(state): State<AdminState>) -> ApiResult<Json<Vec<serde_json::Value>>> {
    let mut names = Vec::new();
    if let Ok(mut keys) = state.profiles.keys().await {
        while let Some(k) = keys.next().await {
            names.push(k.map_err(internal)?);
        }
    }
    names.sort();
    Ok(Json(
        names.into_iter().map(|n| json!({ "name": n })).collect(),
    ))
}

async fn get_profile(
    State(state): State<AdminState>,
    Path(name): Path<String>,
) -> ApiResult<Response> {
    let name = profile_name(&name)?;
    match state.profiles.get(&name).await.map_err(internal)? {
        Some(yaml) => Ok(([(header::CONTENT_TYPE, "application/yaml")], yaml).into_response()),
        None => Err(ApiError::new(
            StatusCode::NOT_FOUND,
            format!("no profile {name}"),
        )),
    }
}

async fn put_profile(
    State(state): State<AdminState>,
    Path(name): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult<Response> {
    let name = profile_name(&name)?;
    let ctype = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    if !(ctype.is_empty() || ctype.contains("yaml") || ctype.starts_with("text/")) {
        return Err(ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "send the profile as application/yaml",
        ));
    }
    let text = std::str::from_utf8(&body)
        .map_err(|_| ApiError::new(StatusCode::BAD_REQUEST, "the profile is not UTF-8 text"))?;
    profile_size(text)?;
    let parsed = LadderProfile::from_yaml(&format!("{name}.yaml"), text).map_err(profile_errors)?;
    let existed = state.profiles.get(&name).await.map_err(internal)?.is_some();
    state
        .profiles
        .put(&name, Bytes::copy_from_slice(text.as_bytes()))
        .await
        .map_err(internal)?;
    tracing::info!(profile = %name, "ladder profile stored through the admin API");
    let status = if existed {
        StatusCode::OK
    } else {
        StatusCode::CREATED
    };
    Ok((status, Json(json!({ "name": name, "profile_name": parsed.name, "renditions": parsed.video.len() + parsed.audio.len() }))).into_response())
}
