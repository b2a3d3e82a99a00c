//! The livefleet chat relay.
//!
//! Viewers connect over WebSocket at `/connection/websocket` and speak the
//! Centrifugo bidirectional JSON protocol ([`protocol`]), so `centrifuge-js`
//! and Centrifugo's other client SDKs work unchanged. A livefleet channel's
//! chat is the Centrifugo channel of the same name. Any number of relays
//! share one conversation through NATS:
//!
//! ```text
//! client --publish--> relay --append--> LIVEFLEET_CHAT_<channel> (JetStream) --follow--> every relay's room --push--> clients
//! worker --segment/broadcast events--> LIVEFLEET_EVENTS --> relay timeline (media time, segment number)
//! moderators --ban--> KV livefleet_chat_moderation --watch--> every relay
//! relay (archive lease holder) --> live/<channel>/chat/<n>.json in storage
//! ```
//!
//! - [`token`]: HS256 connection tokens;
//! - [`history`]: the per-channel JetStream history (offsets, epoch, recovery);
//! - [`hub`]: this relay's rooms and their fan-out;
//! - [`conn`]: one connection's command loop;
//! - [`relay`]: what the connections share (storing, moderation);
//! - [`timeline`]: media time stamping from the workers' segment events;
//! - [`archive`]: the chat replay files;
//! - [`http`]: the router (WebSocket, ranges by media time, `/metrics`).

pub mod archive;
pub mod config;
pub mod conn;
pub mod history;
pub mod http;
pub mod hub;
pub mod limits;
pub mod message;
pub mod metrics;
pub mod moderation;
pub mod presence;
pub mod protocol;
pub mod relay;
pub mod timeline;
pub mod token;

pub use config::ChatConfig;
pub use message::{ChatData, ChatMessage};
pub use metrics::ChatMetrics;
pub use moderation::{Moderation, ModerationError};
pub use relay::Relay;
pub use token::{Identity, TokenKey};
