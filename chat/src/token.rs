//! Connection tokens: HS256 JWTs as Centrifugo reads them.
//!
//! Claims: `sub` (the user id, required and non-empty), `exp` (Unix
//! seconds, optional), `moderator` (bool, livefleet's own claim) and
//! `info.name` (the display name, optional; Centrifugo's `info` claim).
//! Only `HS256` is accepted: a token naming any other algorithm (`none`
//! included) is refused before its signature is looked at.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use sha2::Sha256;

type HmacSha256 = Hmac<Sha256>;

/// The shortest secret accepted: 32 bytes, the HS256 key size.
pub const MIN_SECRET: usize = 32;
/// The longest token read: bigger ones are refused unparsed.
const MAX_TOKEN: usize = 8 * 1024;
/// Longest user id and display name kept.
const MAX_USER: usize = 128;

/// Why a token was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    #[error("malformed token: {0}")]
    Malformed(&'static str),
    #[error("token algorithm {0:?} is not HS256")]
    Algorithm(String),
    #[error("token signature does not match")]
    Signature,
    #[error("token expired")]
    Expired,
    /// The relay's own secret is too short to sign with (a configuration error).
    #[error("the chat secret must be at least {MIN_SECRET} bytes (it is {0})")]
    ShortSecret(usize),
}

/// What a valid token says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    pub user: String,
    /// Display name: `info.name`, or the user id.
    pub name: String,
    pub moderator: bool,
    /// Expiry, Unix seconds.
    pub expires: Option<i64>,
}

#[derive(Serialize, Deserialize)]
struct Claims {
    sub: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    exp: Option<i64>,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    moderator: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    info: Option<Info>,
}

#[derive(Serialize, Deserialize, Default)]
struct Info {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    name: Option<String>,
}

#[derive(Deserialize)]
struct Header {
    alg: String,
}

/// Signs and checks tokens with one secret.
#[derive(Clone)]
pub struct TokenKey {
    secret: Vec<u8>,
}

impl std::fmt::Debug for TokenKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("TokenKey(..)")
    }
}

impl TokenKey {
    /// A key from `secret`, which must be at least [`MIN_SECRET`] bytes.
    pub fn new(secret: &str) -> Result<Self, TokenError> {
        if secret.len() < MIN_SECRET {
            return Err(TokenError::ShortSecret(secret.len()));
        }
        Ok(Self {
            secret: secret.as_bytes().to_vec(),
        })
    }

    fn mac(&self) -> HmacSha256 {
        HmacSha256::new_from_slice(&self.secret).expect("HMAC takes a key of any length")
    }

    /// A token for `user`, valid for `ttl_s` seconds from `now_s` (none: no expiry).
    pub fn issue(
        &self,
        user: &str,
        name: Option<&str>,
        moderator: bool,
        now_s: i64,
        ttl_s: Option<i64>,
    ) -> String {
        let header = URL_SAFE_NO_PAD.encode(br#"{"alg":"HS256","typ":"JWT"}"#);
        let claims = Claims {
            sub: user.to_owned(),
            exp: ttl_s.map(|t| now_s + t),
            moderator,
            info: name.map(|n| Info {
                name: Some(n.to_owned()),
            }),
        };
        let body = URL_SAFE_NO_PAD.encode(serde_json::to_vec(&claims).unwrap_or_default());
        let signing = format!("{header}.{body}");
        let mut mac = self.mac();
        mac.update(signing.as_bytes());
        let sig = URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes());
        format!("{signing}.{sig}")
    }

    /// Checks `token` at `now_s` (Unix seconds).
    pub fn verify(&self, token: &str, now_s: i64) -> Result<Identity, TokenError> {
        if token.len() > MAX_TOKEN {
            return Err(TokenError::Malformed("longer than 8 KiB"));
        }
        let mut parts = token.split('.');
        let (Some(h), Some(b), Some(s), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(TokenError::Malformed("not three dot-separated parts"));
        };
        let header: Header = decode_part(h)?;
        if header.alg != "HS256" {
            return Err(TokenError::Algorithm(header.alg.chars().take(16).collect()));
        }
        let sig = URL_SAFE_NO_PAD
            .decode(s)
            .map_err(|_| TokenError::Malformed("signature is not base64url"))?;
        let mut mac = self.mac();
        mac.update(h.as_bytes());
        mac.update(b".");
        mac.update(b.as_bytes());
        mac.verify_slice(&sig).map_err(|_| TokenError::Signature)?;
        let claims: Claims = decode_part(b)?;
        if claims.sub.is_empty()
            || claims.sub.len() > MAX_USER
            || claims.sub.chars().any(char::is_control)
        {
            return Err(TokenError::Malformed(
                "sub must be 1 to 128 printable characters",
            ));
        }
        if claims.exp.is_some_and(|exp| exp <= now_s) {
            return Err(TokenError::Expired);
        }
        let name = claims
            .info
            .and_then(|i| i.name)
            .filter(|n| !n.trim().is_empty())
            .map(|n| {
                n.chars()
                    .filter(|c| !c.is_control())
                    .take(MAX_USER)
                    .collect()
            })
            .unwrap_or_else(|| claims.sub.clone());
        Ok(Identity {
            user: claims.sub,
            name,
            moderator: claims.moderator,
            expires: claims.exp,
        })
    }
}

fn decode_part<T: serde::de::DeserializeOwned>(part: &str) -> Result<T, TokenError> {
    let bytes = URL_SAFE_NO_PAD
        .decode(part)
        .map_err(|_| TokenError::Malformed("a part is not base64url"))?;
    serde_json::from_slice(&bytes)
        .map_err(|_| TokenError::Malformed("a part is not the expected JSON"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key() -> TokenKey {
        TokenKey::new("0123456789abcdef0123456789abcdef").unwrap()
    }

    #[test]
    fn an_issued_token_verifies_with_its_claims() {
        let t = key().issue("alice", Some("Alice"), true, 1000, Some(60));
        let id = key().verify(&t, 1010).unwrap();
        assert_eq!(id.user, "alice");
        assert_eq!(id.name, "Alice");
        assert!(id.moderator);
        assert_eq!(id.expires, Some(1060));
        assert_eq!(key().verify(&t, 1060), Err(TokenError::Expired));
    }

    #[test]
    fn forged_and_malformed_tokens_are_refused() {
        let t = key().issue("alice", None, false, 0, None);
        let other = TokenKey::new("another-secret-of-thirty-two-bytes!").unwrap();
        assert_eq!(other.verify(&t, 0), Err(TokenError::Signature));
        // A claim changed after signing.
        let mut parts: Vec<&str> = t.split('.').collect();
        let forged_claims = URL_SAFE_NO_PAD.encode(br#"{"sub":"alice","moderator":true}"#);
        parts[1] = &forged_claims;
        assert_eq!(
            key().verify(&parts.join("."), 0),
            Err(TokenError::Signature)
        );
        // alg none.
        let none = format!(
            "{}.{}.",
            URL_SAFE_NO_PAD.encode(br#"{"alg":"none"}"#),
            URL_SAFE_NO_PAD.encode(br#"{"sub":"mallory"}"#)
        );
        assert!(matches!(
            key().verify(&none, 0),
            Err(TokenError::Algorithm(_))
        ));
        for bad in ["", "a.b", "a.b.c.d", "!!.!!.!!", &"x".repeat(9000)] {
            assert!(
                matches!(key().verify(bad, 0), Err(TokenError::Malformed(_))),
                "{bad:.20}"
            );
        }
        let empty_sub = key().issue("", None, false, 0, None);
        assert!(matches!(
            key().verify(&empty_sub, 0),
            Err(TokenError::Malformed(_))
        ));
    }

    #[test]
    fn short_secrets_are_refused() {
        assert!(TokenKey::new("short").is_err());
    }
}
