//! The Centrifugo bidirectional client protocol (version 2), JSON format:
//! the subset `centrifuge` 5.x uses. A WebSocket text frame carries one or
//! more JSON objects separated by newlines; so do the server's frames.
//!
//! A command names its request by field (`connect`, `subscribe`, ...) and
//! has an `id` the reply repeats. A reply without an `id` is a push
//! (`{"push": {...}}`), and an empty object `{}` is a ping from the server
//! (the client answers `{}`, a pong).

use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;

/// Error codes of replies (Centrifugo's).
pub mod error {
    pub const INTERNAL: u32 = 100;
    pub const UNAUTHORIZED: u32 = 101;
    pub const UNKNOWN_CHANNEL: u32 = 102;
    pub const PERMISSION_DENIED: u32 = 103;
    pub const METHOD_NOT_FOUND: u32 = 104;
    pub const ALREADY_SUBSCRIBED: u32 = 105;
    pub const LIMIT_EXCEEDED: u32 = 106;
    pub const BAD_REQUEST: u32 = 107;
    pub const NOT_AVAILABLE: u32 = 108;
    pub const TOKEN_EXPIRED: u32 = 109;
    pub const TOO_MANY_REQUESTS: u32 = 111;
    pub const UNRECOVERABLE_POSITION: u32 = 112;

    /// The message Centrifugo sends with a code.
    pub fn message(code: u32) -> &'static str {
        match code {
            INTERNAL => "internal server error",
            UNAUTHORIZED => "unauthorized",
            UNKNOWN_CHANNEL => "unknown channel",
            PERMISSION_DENIED => "permission denied",
            METHOD_NOT_FOUND => "method not found",
            ALREADY_SUBSCRIBED => "already subscribed",
            LIMIT_EXCEEDED => "limit exceeded",
            BAD_REQUEST => "bad request",
            NOT_AVAILABLE => "not available",
            TOKEN_EXPIRED => "token expired",
            TOO_MANY_REQUESTS => "too many requests",
            UNRECOVERABLE_POSITION => "unrecoverable position",
            _ => "error",
        }
    }
}

/// Disconnect codes, sent as the WebSocket close code (Centrifugo's). Codes
/// from 3500 tell the client not to reconnect.
pub mod disconnect {
    pub const SHUTDOWN: u16 = 3001;
    pub const EXPIRED: u16 = 3005;
    pub const SLOW: u16 = 3008;
    pub const NO_PONG: u16 = 3012;
    pub const TOO_MANY_REQUESTS: u16 = 3013;
    pub const INVALID_TOKEN: u16 = 3500;
    pub const BAD_REQUEST: u16 = 3501;
    pub const CONNECTION_LIMIT: u16 = 3504;
    pub const CHANNEL_LIMIT: u16 = 3505;
    pub const PERMISSION_DENIED: u16 = 3507;

    /// The reason Centrifugo gives with a code.
    pub fn reason(code: u16) -> &'static str {
        match code {
            SHUTDOWN => "shutdown",
            EXPIRED => "expired",
            SLOW => "slow",
            NO_PONG => "no pong",
            TOO_MANY_REQUESTS => "too many requests",
            INVALID_TOKEN => "invalid token",
            BAD_REQUEST => "bad request",
            CONNECTION_LIMIT => "connection limit",
            CHANNEL_LIMIT => "channel limit",
            PERMISSION_DENIED => "permission denied",
            _ => "disconnect",
        }
    }
}

/// Codes of a server-side unsubscribe push.
pub mod unsubscribe {
    /// The server unsubscribed the client (below 2500: do not resubscribe).
    pub const SERVER: u32 = 2000;
}

/// A command from a client. Exactly one request field is set; the first
/// one found is served.
#[derive(Debug, Default, Deserialize)]
pub struct Command {
    #[serde(default)]
    pub id: u32,
    pub connect: Option<ConnectRequest>,
    pub subscribe: Option<SubscribeRequest>,
    pub unsubscribe: Option<ChannelRequest>,
    pub publish: Option<PublishRequest>,
    pub presence: Option<ChannelRequest>,
    pub presence_stats: Option<ChannelRequest>,
    pub history: Option<HistoryRequest>,
    pub ping: Option<serde::de::IgnoredAny>,
    pub send: Option<serde::de::IgnoredAny>,
    pub rpc: Option<RpcRequest>,
    pub refresh: Option<RefreshRequest>,
    pub sub_refresh: Option<serde::de::IgnoredAny>,
}

impl Command {
    /// True for `{}`: a client's pong.
    pub fn is_pong(&self) -> bool {
        self.id == 0
            && self.connect.is_none()
            && self.subscribe.is_none()
            && self.unsubscribe.is_none()
            && self.publish.is_none()
            && self.presence.is_none()
            && self.presence_stats.is_none()
            && self.history.is_none()
            && self.ping.is_none()
            && self.send.is_none()
            && self.rpc.is_none()
            && self.refresh.is_none()
            && self.sub_refresh.is_none()
    }
}

#[derive(Debug, Default, Deserialize)]
pub struct ConnectRequest {
    #[serde(default)]
    pub token: String,
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub version: String,
}

#[derive(Debug, Default, Deserialize)]
pub struct RefreshRequest {
    #[serde(default)]
    pub token: String,
}

#[derive(Debug, Default, Deserialize)]
pub struct SubscribeRequest {
    #[serde(default)]
    pub channel: String,
    #[serde(default)]
    pub recover: bool,
    #[serde(default)]
    pub offset: u64,
    #[serde(default)]
    pub epoch: String,
    #[serde(default)]
    pub join_leave: bool,
}

#[derive(Debug, Default, Deserialize)]
pub struct ChannelRequest {
    #[serde(default)]
    pub channel: String,
}

#[derive(Debug, Deserialize)]
pub struct PublishRequest {
    #[serde(default)]
    pub channel: String,
    pub data: Box<RawValue>,
}

#[derive(Debug, Default, Deserialize)]
pub struct StreamPosition {
    #[serde(default)]
    pub offset: u64,
    #[serde(default)]
    pub epoch: String,
}

#[derive(Debug, Default, Deserialize)]
pub struct HistoryRequest {
    #[serde(default)]
    pub channel: String,
    /// 0: only the stream position; below 0: as many as the history keeps.
    #[serde(default)]
    pub limit: i64,
    pub since: Option<StreamPosition>,
    #[serde(default)]
    pub reverse: bool,
}

#[derive(Debug, Deserialize)]
pub struct RpcRequest {
    #[serde(default)]
    pub method: String,
    pub data: Option<Box<RawValue>>,
}

/// Who published (a publication's `info`, a join or leave).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClientInfo {
    pub user: String,
    pub client: String,
}

/// A publication as clients see it, stored as is in the history.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Publication {
    pub data: Box<RawValue>,
    #[serde(default, skip_serializing_if = "is_zero")]
    pub offset: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub info: Option<ClientInfo>,
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

/// A reply to command `id`, its result already JSON.
pub fn reply(id: u32, method: &str, result: &impl Serialize) -> String {
    let result = serde_json::to_string(result).unwrap_or_else(|_| "{}".to_owned());
    format!("{{\"id\":{id},\"{method}\":{result}}}")
}

/// An error reply to command `id`.
pub fn error_reply(id: u32, code: u32) -> String {
    serde_json::json!({"id": id, "error": {"code": code, "message": error::message(code)}})
        .to_string()
}

/// A push of a publication in `channel`.
pub fn publication_push(channel: &str, publication: &Publication) -> String {
    serde_json::json!({"push": {"channel": channel, "pub": publication}}).to_string()
}

/// A join or leave push (`kind` is `join` or `leave`).
pub fn presence_push(channel: &str, kind: &str, info: &ClientInfo) -> String {
    serde_json::json!({"push": {"channel": channel, kind: {"info": info}}}).to_string()
}

/// A server-side unsubscribe push.
pub fn unsubscribe_push(channel: &str, code: u32, reason: &str) -> String {
    serde_json::json!({"push": {"channel": channel, "unsubscribe": {"code": code, "reason": reason}}})
        .to_string()
}

/// Splits a frame into its commands. A line that is not a JSON command is
/// an error naming its position.
pub fn parse_frame(text: &str) -> Result<Vec<Command>, String> {
    text.split('\n')
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .enumerate()
        .map(|(i, line)| {
            serde_json::from_str::<Command>(line).map_err(|e| format!("command {}: {e}", i + 1))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_split_into_commands_and_pongs_are_empty_objects() {
        let cmds = parse_frame(
            "{\"id\":1,\"connect\":{\"token\":\"t\"}}\n{\"id\":2,\"subscribe\":{\"channel\":\"a\",\"recover\":true,\"offset\":5,\"epoch\":\"e\"}}\n{}",
        )
        .unwrap();
        assert_eq!(cmds.len(), 3);
        assert_eq!(cmds[0].connect.as_ref().unwrap().token, "t");
        let sub = cmds[1].subscribe.as_ref().unwrap();
        assert!(sub.recover && sub.offset == 5 && sub.epoch == "e");
        assert!(cmds[2].is_pong() && !cmds[0].is_pong());
    }

    #[test]
    fn bad_json_is_an_error() {
        for bad in [
            "{",
            "[1,2]",
            "\"x\"",
            "{\"id\":-1}",
            "{\"id\":1,\"publish\":{\"channel\":\"a\"}}",
        ] {
            assert!(parse_frame(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn replies_have_the_centrifugo_shape() {
        assert_eq!(
            error_reply(3, error::PERMISSION_DENIED),
            r#"{"error":{"code":103,"message":"permission denied"},"id":3}"#
        );
        assert_eq!(
            reply(4, "publish", &serde_json::json!({})),
            r#"{"id":4,"publish":{}}"#
        );
    }
}
