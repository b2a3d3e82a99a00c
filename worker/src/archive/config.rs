//! The archive settings of a worker (`archive:` in its configuration).

use std::time::Duration;

use serde::Deserialize;

/// The `archive:` section of a worker's configuration.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ArchiveConfig {
    /// Keep every broadcast as VOD under `vod/<channel>/<broadcast>/`.
    pub enabled: bool,
    /// Seconds after a complete archive at which the broadcast's live
    /// objects are deleted; `null` keeps them (leave it to a bucket
    /// lifecycle rule on `live/`).
    pub delete_live_after_seconds: Option<f64>,
    /// Seconds to wait after the end for the chat relay's last replay files.
    pub chat_settle_seconds: f64,
}

impl Default for ArchiveConfig {
    fn default() -> Self {
        ArchiveConfig {
            enabled: true,
            delete_live_after_seconds: None,
            chat_settle_seconds: 5.0,
        }
    }
}

/// An archive setting out of range.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("archive.{setting} must be a number of seconds, 0 or more{}", if *.nullable { " (or null)" } else { "" })]
pub struct ArchiveConfigError {
    pub setting: &'static str,
    nullable: bool,
}

impl ArchiveConfig {
    /// Checks the values (finite, not negative).
    pub fn validate(&self) -> Result<(), ArchiveConfigError> {
        let ok = |v: f64| v.is_finite() && v >= 0.0;
        if !ok(self.chat_settle_seconds) {
            return Err(ArchiveConfigError {
                setting: "chat_settle_seconds",
                nullable: false,
            });
        }
        if self.delete_live_after_seconds.is_some_and(|v| !ok(v)) {
            return Err(ArchiveConfigError {
                setting: "delete_live_after_seconds",
                nullable: true,
            });
        }
        Ok(())
    }

    pub(super) fn delete_live_after(&self) -> Option<Duration> {
        self.delete_live_after_seconds.map(Duration::from_secs_f64)
    }
}
