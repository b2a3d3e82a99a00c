//! Storage named by URL wherever a destination is named: a plain path is a
//! local directory (the embedded default), `s3://BUCKET/PREFIX` a bucket.

use std::path::PathBuf;
use std::sync::Arc;

use crate::s3::{S3Config, S3Storage};
use crate::{LocalDir, Storage, StorageError};

/// Why a text is not a storage location.
#[derive(Debug, thiserror::Error)]
pub enum LocationError {
    #[error("an empty storage location")]
    Empty,
    #[error("{0:?}: only local paths and s3://BUCKET/PREFIX are storage locations")]
    Scheme(String),
    #[error(
        "{text:?}: {bucket:?} is not a bucket name (3-63 lower-case letters, digits, '-' and '.')"
    )]
    Bucket { text: String, bucket: String },
    #[error("{text:?}: prefix {source}")]
    Prefix {
        text: String,
        #[source]
        source: StorageError,
    },
}

/// Where objects go.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Location {
    Local(PathBuf),
    S3 { bucket: String, prefix: String },
}

impl Location {
    /// Reads `s3://bucket[/prefix]` or a path.
    pub fn parse(text: &str) -> Result<Location, LocationError> {
        let Some(rest) = text.strip_prefix("s3://") else {
            if text.is_empty() {
                return Err(LocationError::Empty);
            }
            if text.contains("://") {
                return Err(LocationError::Scheme(text.to_owned()));
            }
            return Ok(Location::Local(PathBuf::from(text)));
        };
        let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
        let valid_bucket = (3..=63).contains(&bucket.len())
            && bucket
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'.')
            && !bucket.starts_with(['-', '.'])
            && !bucket.ends_with(['-', '.']);
        if !valid_bucket {
            return Err(LocationError::Bucket {
                text: text.to_owned(),
                bucket: bucket.to_owned(),
            });
        }
        let prefix = prefix.trim_matches('/');
        if !prefix.is_empty() {
            crate::validate_key(prefix).map_err(|source| LocationError::Prefix {
                text: text.to_owned(),
                source,
            })?;
        }
        Ok(Location::S3 {
            bucket: bucket.to_owned(),
            prefix: prefix.to_owned(),
        })
    }

    /// Opens the store: a local directory is created if missing; a bucket is
    /// checked (HeadBucket), so a wrong credential, bucket or endpoint fails here.
    pub async fn open(&self) -> Result<Arc<dyn Storage>, StorageError> {
        match self {
            Location::Local(dir) => Ok(Arc::new(LocalDir::new(dir.clone())?)),
            Location::S3 { bucket, prefix } => Ok(Arc::new(
                S3Storage::connect(S3Config::new(bucket.clone(), prefix.clone())).await?,
            )),
        }
    }
}

impl std::fmt::Display for Location {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Location::Local(p) => write!(f, "{}", p.display()),
            Location::S3 { bucket, prefix } if prefix.is_empty() => write!(f, "s3://{bucket}"),
            Location::S3 { bucket, prefix } => write!(f, "s3://{bucket}/{prefix}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn locations_parse() {
        assert_eq!(
            Location::parse("s3://media/vod/show").unwrap(),
            Location::S3 {
                bucket: "media".into(),
                prefix: "vod/show".into()
            }
        );
        assert_eq!(
            Location::parse("s3://media").unwrap(),
            Location::S3 {
                bucket: "media".into(),
                prefix: String::new()
            }
        );
        assert_eq!(
            Location::parse("out/dir").unwrap(),
            Location::Local("out/dir".into())
        );
        for bad in [
            "s3://",
            "s3://A_B/x",
            "s3://ok-bucket/../x",
            "http://x/y",
            "",
        ] {
            assert!(Location::parse(bad).is_err(), "{bad}");
        }
        assert_eq!(
            Location::parse("s3://media/vod/").unwrap().to_string(),
            "s3://media/vod"
        );
    }
}
