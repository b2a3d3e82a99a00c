//! Connecting and refreshing a token: who the connection is.

use livefleet_base::{now_unix_ms, ChannelName};
use serde_json::json;

use super::Conn;
use crate::protocol::{self, disconnect, error, ClientInfo};
use crate::token::{Identity, TokenError};

impl Conn {
    pub(super) fn check_token(&self, token: &str) -> Result<Option<Identity>, Result<u32, u16>> {
        if token.is_empty() {
            return if self.relay.config.anonymous_read {
                Ok(None)
            } else {
                Err(Ok(error::UNAUTHORIZED))
            };
        }
        let Some(key) = &self.relay.key else {
            tracing::info!("a token was sent, but this relay has no chat secret");
            return Err(Err(disconnect::INVALID_TOKEN));
        };
        match key.verify(token, now_unix_ms() / 1000) {
            Ok(identity) => Ok(Some(identity)),
            Err(TokenError::Expired) => Err(Ok(error::TOKEN_EXPIRED)),
            Err(e) => {
                tracing::info!(error = %e, "token refused");
                Err(Err(disconnect::INVALID_TOKEN))
            }
        }
    }

    pub(super) fn connect_result(&self) -> serde_json::Value {
        let mut result = json!({
            "client": self.client,
            "version": concat!("livefleet ", env!("CARGO_PKG_VERSION")),
            "ping": self.relay.config.ping_interval_s.max(1),
            "pong": true,
            "node": self.relay.id,
        });
        if let Some(exp) = self.identity.as_ref().and_then(|i| i.expires) {
            result["expires"] = json!(true);
            result["ttl"] = json!((exp - now_unix_ms() / 1000).max(1));
        }
        result
    }

    pub(super) fn connect(&mut self, id: u32, token: &str) -> Result<String, u16> {
        if self.connected {
            tracing::info!("connect sent twice; disconnecting");
            return Err(disconnect::BAD_REQUEST);
        }
        match self.check_token(token) {
            Ok(identity) => {
                self.identity = identity;
                self.connected = true;
                let user = self.identity.as_ref().map_or("", |i| i.user.as_str());
                tracing::debug!(user, "connected");
                Ok(protocol::reply(id, "connect", &self.connect_result()))
            }
            Err(Ok(code)) => Ok(protocol::error_reply(id, code)),
            Err(Err(close)) => Err(close),
        }
    }

    pub(super) fn refresh(&mut self, id: u32, token: &str) -> Result<String, u16> {
        match self.check_token(token) {
            Ok(Some(identity))
                if self
                    .identity
                    .as_ref()
                    .is_none_or(|i| i.user == identity.user) =>
            {
                self.identity = Some(identity);
                let r = self.connect_result();
                Ok(protocol::reply(
                    id,
                    "refresh",
                    &json!({"client": r["client"], "version": r["version"], "expires": r.get("expires").is_some(), "ttl": r.get("ttl")}),
                ))
            }
            Ok(_) => Err(disconnect::INVALID_TOKEN),
            Err(Ok(code)) => Ok(protocol::error_reply(id, code)),
            Err(Err(close)) => Err(close),
        }
    }

    /// The channel `name`, if it exists and this connection may read it.
    pub(super) async fn readable(&self, name: &str) -> Result<ChannelName, u32> {
        let channel = self.relay.channel(name).await?;
        if self.identity.is_none() && !self.relay.config.anonymous_read {
            return Err(error::PERMISSION_DENIED);
        }
        Ok(channel)
    }

    pub(super) fn info(&self) -> ClientInfo {
        ClientInfo {
            user: self
                .identity
                .as_ref()
                .map_or(String::new(), |i| i.user.clone()),
            client: self.client.clone(),
        }
    }
}
