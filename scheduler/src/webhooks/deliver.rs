//! One delivery of a webhook: a signed POST, and how long to wait before
//! the next try (`docs/design/webhooks.md`).

use std::time::Duration;

use hmac::{Hmac, Mac};
use sha2::Sha256;

/// The longest a receiver may take to answer.
pub const ANSWER_WITHIN: Duration = Duration::from_secs(10);
/// Tries of one webhook before it is given up (about 9 minutes of retries).
pub const TRIES: i64 = 15;
/// The longest pause between two tries.
const MAX_PAUSE: Duration = Duration::from_secs(60);

/// The pause after failed try `n` (1-based): 1, 2, 4, ... 60 s.
pub fn pause_after(n: i64) -> Duration {
    let secs = 1u64 << (n.clamp(1, 7) - 1);
    Duration::from_secs(secs).min(MAX_PAUSE)
}

/// The `Livefleet-Signature` header of `body` sent at `unix_s`:
/// `t=<unix_s>,v1=<hex HMAC-SHA256 of "<unix_s>.<body>" under the secret>`.
/// The time is signed with the body, so a receiver that checks it refuses a
/// captured request sent again later.
pub fn signature(secret: &[u8], unix_s: i64, body: &[u8]) -> String {
    // HMAC takes a key of any length.
    let mut mac = Hmac::<Sha256>::new_from_slice(secret).expect("any key length");
    mac.update(format!("{unix_s}.").as_bytes());
    mac.update(body);
    let hex: String = mac
        .finalize()
        .into_bytes()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    format!("t={unix_s},v1={hex}")
}

/// Why a try failed.
#[derive(Debug, thiserror::Error)]
pub enum Failed {
    #[error("the receiver answered {0}")]
    Status(u16),
    #[error("no answer: {0}")]
    Unreachable(String),
}

/// One webhook to send: its id, type and body, and which try this is.
pub struct Delivery<'a> {
    pub id: &'a str,
    pub kind: &'a str,
    pub attempt: i64,
    pub body: Vec<u8>,
}

/// Sends one webhook; `Ok` with the status of a 2xx answer.
pub async fn post(
    http: &reqwest::Client,
    url: &str,
    secret: Option<&[u8]>,
    d: Delivery<'_>,
) -> Result<u16, Failed> {
    let Delivery {
        id,
        kind,
        attempt,
        body,
    } = d;
    let mut req = http
        .post(url)
        .timeout(ANSWER_WITHIN)
        .header("content-type", "application/json")
        .header(
            "user-agent",
            concat!("livefleet/", env!("CARGO_PKG_VERSION")),
        )
        .header("livefleet-event-id", id)
        .header("livefleet-event-type", kind)
        .header("livefleet-delivery-attempt", attempt.to_string());
    if let Some(secret) = secret {
        let now = livefleet_base::clock::now_unix_ms() / 1000;
        req = req.header("livefleet-signature", signature(secret, now, &body));
    }
    let answer = req
        .body(body)
        .send()
        .await
        .map_err(|e| Failed::Unreachable(error_chain(&e)))?;
    let status = answer.status();
    if status.is_success() {
        Ok(status.as_u16())
    } else {
        Err(Failed::Status(status.as_u16()))
    }
}

/// An error with its causes, for the log line.
fn error_chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut cause = e.source();
    while let Some(c) = cause {
        s.push_str(": ");
        s.push_str(&c.to_string());
        cause = c.source();
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pauses_double_up_to_a_minute() {
        let got: Vec<u64> = (1..=9).map(|n| pause_after(n).as_secs()).collect();
        assert_eq!(got, [1, 2, 4, 8, 16, 32, 60, 60, 60]);
        let total: u64 = (1..TRIES).map(|n| pause_after(n).as_secs()).sum();
        assert!((400..700).contains(&total), "{total} s of retries");
    }

    #[test]
    fn the_signature_is_hmac_sha256_of_the_time_and_the_body() {
        // Python's hmac.new(b"Jefe", b"1700000000.what do ya want for
        // nothing?", hashlib.sha256).hexdigest(), computed apart.
        assert_eq!(
            signature(b"Jefe", 1_700_000_000, b"what do ya want for nothing?"),
            "t=1700000000,v1=1cdd0650c8be1cb0974b1788d458b1e781206cfef59b85faafc582d2e182c57e"
        );
        assert_ne!(signature(b"Jefe", 1, b"x"), signature(b"Jefe", 2, b"x"));
        assert_ne!(signature(b"a", 1, b"x"), signature(b"b", 1, b"x"));
    }
}
