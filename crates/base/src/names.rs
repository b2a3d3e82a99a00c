//! Names that end up in URLs, object keys and NATS subjects.
//!
//! Both kinds of name are restricted to `[a-z0-9_-]`, starting with a letter or
//! a digit, so that they are safe in a path segment, an S3 key and a NATS
//! subject token alike. Upper case is refused on purpose: object keys and URLs
//! are case sensitive, and `Demo` next to `demo` only confuses people.

use std::fmt;

use serde::{Deserialize, Serialize};

/// Why a name was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NameError {
    #[error("name is empty")]
    Empty,
    #[error("name {name:?} is longer than {max} characters")]
    TooLong { name: String, max: usize },
    #[error("name {name:?} contains {bad:?}; use only lower-case letters, digits, '-' and '_'")]
    BadCharacter { name: String, bad: char },
    #[error("name {name:?} must start with a letter or a digit")]
    BadStart { name: String },
}

const MAX_NAME: usize = 64;

fn check(name: &str) -> Result<(), NameError> {
    if name.is_empty() {
        return Err(NameError::Empty);
    }
    if name.len() > MAX_NAME {
        return Err(NameError::TooLong {
            name: name.to_owned(),
            max: MAX_NAME,
        });
    }
    if let Some(bad) = name
        .chars()
        .find(|c| !(c.is_ascii_lowercase() || c.is_ascii_digit() || *c == '-' || *c == '_'))
    {
        return Err(NameError::BadCharacter {
            name: name.to_owned(),
            bad,
        });
    }
    if !name.starts_with(|c: char| c.is_ascii_alphanumeric()) {
        return Err(NameError::BadStart {
            name: name.to_owned(),
        });
    }
    Ok(())
}

macro_rules! name_type {
    ($(#[$doc:meta])* $ty:ident) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(try_from = "String", into = "String")]
        pub struct $ty(String);

        impl $ty {
            /// Checks `name` and wraps it.
            pub fn new(name: impl Into<String>) -> Result<Self, NameError> {
                let name = name.into();
                check(&name)?;
                Ok(Self(name))
            }

            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $ty {
            /// Honours width and alignment (`{:<24}`), as `str` does.
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.pad(&self.0)
            }
        }

        impl TryFrom<String> for $ty {
            type Error = NameError;
            fn try_from(s: String) -> Result<Self, NameError> {
                Self::new(s)
            }
        }

        impl From<$ty> for String {
            fn from(n: $ty) -> String {
                n.0
            }
        }

        impl std::str::FromStr for $ty {
            type Err = NameError;
            fn from_str(s: &str) -> Result<Self, NameError> {
                Self::new(s)
            }
        }
    };
}

name_type!(
    /// A channel: one publisher's live stream, e.g. `demo`. Used as
    /// `live/<channel>/...` in storage and `media.<channel>` on NATS.
    ChannelName
);
name_type!(
    /// A rendition of a ladder, e.g. `720p` or `audio`. Used as a directory
    /// name under the channel.
    RenditionName
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_line_up_in_tables() {
        let demo = ChannelName::new("demo").unwrap();
        assert_eq!(
            format!("{demo:<8}|{demo:>6}|{demo}"),
            "demo    |  demo|demo"
        );
        let r = RenditionName::new("720p").unwrap();
        assert_eq!(format!("{r:<6}|"), "720p  |");
    }

    #[test]
    fn accepts_url_safe_names() {
        for ok in ["demo", "720p", "a_b-c", "0"] {
            ChannelName::new(ok).unwrap();
        }
    }

    #[test]
    fn refuses_unsafe_names() {
        assert_eq!(ChannelName::new(""), Err(NameError::Empty));
        assert!(matches!(
            ChannelName::new("a/b"),
            Err(NameError::BadCharacter { bad: '/', .. })
        ));
        assert!(matches!(
            ChannelName::new("Demo"),
            Err(NameError::BadCharacter { bad: 'D', .. })
        ));
        assert!(matches!(
            ChannelName::new("a.b"),
            Err(NameError::BadCharacter { bad: '.', .. })
        ));
        assert!(matches!(
            ChannelName::new("-x"),
            Err(NameError::BadStart { .. })
        ));
        assert!(matches!(
            ChannelName::new("x".repeat(65)),
            Err(NameError::TooLong { .. })
        ));
    }
}
