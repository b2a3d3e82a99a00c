//! The one configuration loader of the command: a YAML file (or the
//! defaults without one), and durations given in seconds on the command line.

use std::path::Path;
use std::time::Duration;

use anyhow::Context;
use serde::de::DeserializeOwned;

/// The configuration in `path` (YAML), or the defaults without a file.
pub fn load<T: DeserializeOwned + Default>(path: Option<&Path>) -> anyhow::Result<T> {
    let Some(path) = path else {
        return Ok(T::default());
    };
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    serde_norway::from_str(&text).with_context(|| format!("{}", path.display()))
}

/// Seconds from the command line as a duration (clamped to a day).
pub fn seconds(s: f64) -> Duration {
    Duration::from_secs_f64(s.clamp(0.0, 86_400.0))
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;

    use super::*;

    fn sample(name: &str) -> PathBuf {
        PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("docs/config")
            .join(name)
    }

    /// The annotated samples in docs/config load through this loader and say
    /// the defaults they claim (a changed default must change its sample).
    #[test]
    fn the_sample_configurations_load_and_state_the_defaults() {
        let ingest: livefleet_ingest::IngestConfig = load(Some(&sample("ingest.yaml"))).unwrap();
        assert_eq!(ingest, livefleet_ingest::IngestConfig::default());
        let scheduler: livefleet_scheduler::SchedulerConfig =
            load(Some(&sample("scheduler.yaml"))).unwrap();
        assert_eq!(scheduler, livefleet_scheduler::SchedulerConfig::default());
        let chat: livefleet_chat::ChatConfig = load(Some(&sample("chat.yaml"))).unwrap();
        assert_eq!(chat, livefleet_chat::ChatConfig::default());
        let worker: crate::services::WorkerFile = load(Some(&sample("worker.yaml"))).unwrap();
        assert_eq!(worker.capacity_cpu_pps, Some(24_000_000));
        assert_eq!(worker.capacity_nvenc_pps, Some(1_200_000_000));
        assert_eq!(worker.nvenc_session_limit, Some(8));
        assert_eq!(worker.gpu_model.as_deref(), Some("Tesla T4"));
        assert_eq!(
            worker.location(std::path::Path::new("unused")).unwrap(),
            livefleet_storage::Location::S3 {
                bucket: "livefleet-media".into(),
                prefix: String::new()
            }
        );
    }

    #[test]
    fn an_unknown_key_is_refused_with_the_file_named() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("ingest.yaml");
        std::fs::write(&path, "max_conections: 3\n").unwrap();
        let err = load::<livefleet_ingest::IngestConfig>(Some(&path)).unwrap_err();
        let text = format!("{err:#}");
        assert!(
            text.contains("ingest.yaml") && text.contains("unknown field"),
            "{text}"
        );
    }
}
