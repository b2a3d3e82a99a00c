//! What rides in a publication's `data`: chat messages, deletions, viewer
//! counts and broadcast starts and stops, told apart by `type`.
//!
//! A client publishes `{"text": "...", "media_time": T}` (`media_time`, the
//! PROGRAM-DATE-TIME of the frame on its screen, as Unix milliseconds or an
//! ISO 8601 string, is optional). The relay stores and delivers what it
//! makes of it: a [`ChatMessage`].

use serde::{Deserialize, Serialize};

/// A chat message as stored and delivered.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChatMessage {
    /// Unique id (what a moderator deletes by).
    pub id: String,
    pub text: String,
    pub user: String,
    /// Display name.
    pub name: String,
    /// Media time: the PROGRAM-DATE-TIME it belongs to, Unix ms.
    pub media_time: i64,
    /// The media segment `media_time` falls in; `None` outside a broadcast.
    pub segment: Option<u64>,
    /// When the relay received it, Unix ms.
    pub sent_at: i64,
}

/// Everything a publication's data can be.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "lowercase")]
pub enum ChatData {
    Message(ChatMessage),
    /// A moderator deleted message `id`.
    Delete {
        id: String,
        by: String,
    },
    /// Viewers of the channel across every relay (not kept in the history).
    Viewers {
        viewers: u64,
    },
    /// A broadcast started or stopped (`state`: `started` / `stopped`).
    Broadcast {
        state: String,
        broadcast: i64,
        at: i64,
    },
}

/// Whether `id` can name a message: 1 to 64 ASCII letters and digits (the
/// ids the relay makes are 32 hex digits).
pub fn is_message_id(id: &str) -> bool {
    !id.is_empty() && id.len() <= 64 && id.bytes().all(|b| b.is_ascii_alphanumeric())
}

/// What a client sent, checked.
#[derive(Debug, Clone, PartialEq)]
pub struct Draft {
    pub text: String,
    pub media_time: Option<i64>,
}

#[derive(Deserialize)]
struct Incoming {
    text: Option<serde_json::Value>,
    media_time: Option<serde_json::Value>,
}

/// Why a client's data was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DraftError {
    #[error("data must be an object with a text string")]
    Shape,
    #[error("text is empty")]
    Empty,
    #[error("text is longer than {0} characters")]
    TooLong(usize),
}

/// Checks a client's publish data.
pub fn parse_draft(data: &str, max_chars: usize) -> Result<Draft, DraftError> {
    let incoming: Incoming = serde_json::from_str(data).map_err(|_| DraftError::Shape)?;
    let Some(serde_json::Value::String(text)) = incoming.text else {
        return Err(DraftError::Shape);
    };
    let text: String = text
        .trim()
        .chars()
        .filter(|c| !c.is_control() || *c == '\n')
        .collect();
    if text.is_empty() {
        return Err(DraftError::Empty);
    }
    if text.chars().count() > max_chars {
        return Err(DraftError::TooLong(max_chars));
    }
    let media_time = match incoming.media_time {
        Some(serde_json::Value::Number(n)) => {
            n.as_f64().filter(|f| f.is_finite()).map(|f| f as i64)
        }
        Some(serde_json::Value::String(s)) => livefleet_base::clock::parse_iso8601(&s),
        _ => None,
    };
    Ok(Draft { text, media_time })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn drafts_are_checked() {
        let d = parse_draft(r#"{"text":"  hi\u0007 ","media_time":1700000000000}"#, 500).unwrap();
        assert_eq!(
            d,
            Draft {
                text: "hi".into(),
                media_time: Some(1_700_000_000_000)
            }
        );
        let iso = parse_draft(
            r#"{"text":"a","media_time":"2024-01-01T00:00:09.000Z"}"#,
            500,
        )
        .unwrap();
        assert_eq!(iso.media_time, Some(1_704_067_209_000));
        assert_eq!(
            parse_draft(r#"{"text":"   "}"#, 500),
            Err(DraftError::Empty)
        );
        assert_eq!(parse_draft(r#"{"text":7}"#, 500), Err(DraftError::Shape));
        assert_eq!(parse_draft(r#""text""#, 500), Err(DraftError::Shape));
        assert_eq!(
            parse_draft(&format!(r#"{{"text":"{}"}}"#, "é".repeat(501)), 500),
            Err(DraftError::TooLong(500))
        );
        assert!(parse_draft(&format!(r#"{{"text":"{}"}}"#, "é".repeat(500)), 500).is_ok());
    }

    #[test]
    fn data_is_tagged_by_type() {
        let d = ChatData::Delete {
            id: "x".into(),
            by: "m".into(),
        };
        assert_eq!(
            serde_json::to_string(&d).unwrap(),
            r#"{"type":"delete","id":"x","by":"m"}"#
        );
    }
}
