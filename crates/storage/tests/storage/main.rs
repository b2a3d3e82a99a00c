//! The local backend, the ordered writer and the retry loop, against a real
//! directory.

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use bytes::Bytes;
use livefleet_storage::{
    LocalDir, MissingObjects, ObjectMeta, Put, RetryPolicy, RetryingStorage, Storage, StorageError,
    StorageMetrics, StorageWriter, WriterError, WriterOptions,
};

fn meta(key: &str) -> ObjectMeta {
    ObjectMeta::for_key(key)
}

fn files_under(dir: &std::path::Path) -> Vec<String> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).unwrap() {
            let entry = entry.unwrap();
            if entry.file_type().unwrap().is_dir() {
                stack.push(entry.path());
            } else {
                out.push(entry.file_name().to_string_lossy().into_owned());
            }
        }
    }
    out.sort();
    out
}

fn quick_retries(max_attempts: u32) -> RetryPolicy {
    RetryPolicy {
        max_attempts,
        initial_backoff: Duration::from_millis(1),
        max_backoff: Duration::from_millis(4),
    }
}

mod local;
mod writer;
