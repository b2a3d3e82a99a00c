//! The local-directory backend: the embedded default, served by the origin.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use async_trait::async_trait;
use bytes::Bytes;

use crate::keys::{folder_prefix, validate_key, validate_prefix};
use crate::{ObjectMeta, Storage, StorageError};

/// The prefix of the temporary files a put writes before renaming them over
/// the target. Keys may not start a segment with `.`, so no key names one,
/// and the origin never serves one.
pub const TEMP_PREFIX: &str = ".tmp-";

/// Objects as files under a root directory: key `a/b/c.m4s` is the file
/// `<root>/a/b/c.m4s`.
///
/// - Writes are atomic: the body goes to a `.tmp-*` file in the target's
///   directory, which is then renamed over the target, so a reader sees the
///   old file or the new one, never a partial one. Concurrent puts of one key
///   are safe; the last rename wins. A failed put removes its temporary file.
/// - Durability: by default a put does not call `fsync`. After a power loss
///   the last few seconds of segments may be lost or empty, which a live
///   stream shrugs off, and a disk flush per segment and playlist is saved.
///   [`LocalDir::with_fsync`] syncs the file before the rename and the
///   directory after it.
/// - No metadata is stored next to an object: the content type and cache
///   class passed to [`Storage::put`] are not kept, and whoever serves the
///   files derives them again from the key ([`crate::keys`]).
/// - Deleting an object leaves its (possibly empty) directory behind.
#[derive(Debug)]
pub struct LocalDir {
    root: PathBuf,
    fsync: bool,
}

static TEMP_COUNTER: AtomicU64 = AtomicU64::new(0);

impl LocalDir {
    /// Opens (creating it if needed) the directory `root` as a store.
    pub fn new(root: PathBuf) -> Result<Self, StorageError> {
        std::fs::create_dir_all(&root).map_err(|e| StorageError::io("", &root, e))?;
        let root = root
            .canonicalize()
            .map_err(|e| StorageError::io("", &root, e))?;
        Ok(LocalDir { root, fsync: false })
    }

    /// Whether puts call `fsync` on the file and its directory (default: no).
    pub fn with_fsync(mut self, fsync: bool) -> Self {
        self.fsync = fsync;
        self
    }

    /// The root directory (canonical).
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The file that holds the object `key`, after checking the key. The path
    /// is always inside [`LocalDir::root`].
    pub fn path_for(&self, key: &str) -> Result<PathBuf, StorageError> {
        validate_key(key)?;
        Ok(self.root.join(key))
    }
}

fn write_atomically(key: &str, path: &Path, body: &[u8], fsync: bool) -> Result<(), StorageError> {
    let dir = path.parent().unwrap_or(path);
    std::fs::create_dir_all(dir).map_err(|e| StorageError::io(key, dir, e))?;
    let temp = temp_path(dir, path);
    let result = (|| {
        let mut file = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&temp)
            .map_err(|e| StorageError::io(key, &temp, e))?;
        file.write_all(body)
            .map_err(|e| StorageError::io(key, &temp, e))?;
        if fsync {
            file.sync_all()
                .map_err(|e| StorageError::io(key, &temp, e))?;
        }
        drop(file);
        std::fs::rename(&temp, path).map_err(|e| StorageError::io(key, path, e))?;
        if fsync {
            std::fs::File::open(dir)
                .and_then(|d| d.sync_all())
                .map_err(|e| StorageError::io(key, dir, e))?;
        }
        Ok(())
    })();
    if result.is_err() {
        // The rename did not happen (or the directory sync failed after it,
        // in which case the temporary name is already gone).
        let _ = std::fs::remove_file(&temp);
    }
    result
}

/// Links `from` to a temporary name beside `to`, then renames it over `to`:
/// the copy shares the file's blocks and appears whole or not at all.
/// `Ok(false)` when `from` does not exist. Falls back to copying the bytes
/// where a link cannot be made (another file system).
fn link_atomically(key: &str, from: &Path, to: &Path) -> Result<bool, StorageError> {
    if !from.is_file() {
        return Ok(false);
    }
    let dir = to.parent().unwrap_or(to);
    std::fs::create_dir_all(dir).map_err(|e| StorageError::io(key, dir, e))?;
    let temp = temp_path(dir, to);
    let made = std::fs::hard_link(from, &temp).or_else(|_| std::fs::copy(from, &temp).map(|_| ()));
    match made {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(false),
        Err(e) => return Err(StorageError::io(key, &temp, e)),
    }
    let renamed = std::fs::rename(&temp, to);
    // rename(2) does nothing when both names already link the same file
    // (a copy made again): the temporary name is left, and removed here.
    let _ = std::fs::remove_file(&temp);
    renamed.map_err(|e| StorageError::io(key, to, e))?;
    Ok(true)
}

fn temp_path(dir: &Path, target: &Path) -> PathBuf {
    let name = target
        .file_name()
        .and_then(|n| n.to_str())
        .unwrap_or("object");
    dir.join(format!(
        "{TEMP_PREFIX}{name}-{}-{}",
        std::process::id(),
        TEMP_COUNTER.fetch_add(1, Ordering::Relaxed)
    ))
}

fn collect_keys(
    root: &Path,
    dir: &Path,
    prefix: &str,
    keys: &mut Vec<String>,
) -> Result<(), StorageError> {
    let Some(entries) = read_dir(prefix, dir)? else {
        return Ok(());
    };
    for entry in entries {
        let entry = entry.map_err(|e| StorageError::io(prefix, dir, e))?;
        let Some(name) = entry.file_name().to_str().map(str::to_owned) else {
            continue;
        };
        if name.starts_with('.') {
            continue;
        }
        let path = entry.path();
        // `file_type` does not follow symlinks: links are neither listed nor
        // walked, so a listing never leaves the root.
        let file_type = entry
            .file_type()
            .map_err(|e| StorageError::io(prefix, &path, e))?;
        let Ok(relative) = path.strip_prefix(root) else {
            continue;
        };
        let Some(key) = relative
            .to_str()
            .map(|k| k.replace(std::path::MAIN_SEPARATOR, "/"))
        else {
            continue;
        };
        if file_type.is_dir() {
            let as_dir = format!("{key}/");
            if as_dir.starts_with(prefix) || prefix.starts_with(&as_dir) {
                collect_keys(root, &path, prefix, keys)?;
            }
        } else if file_type.is_file() && key.starts_with(prefix) && validate_key(&key).is_ok() {
            keys.push(key);
        }
    }
    Ok(())
}

#[async_trait]
impl Storage for LocalDir {
    async fn put(&self, key: &str, body: Bytes, _meta: ObjectMeta) -> Result<(), StorageError> {
        let path = self.path_for(key)?;
        let key = key.to_owned();
        let fsync = self.fsync;
        let task_key = key.clone();
        tokio::task::spawn_blocking(move || write_atomically(&task_key, &path, &body, fsync))
            .await
            .map_err(|e| StorageError::Backend {
                key,
                message: format!("write task failed: {e}"),
                retryable: true,
            })?
    }

    async fn get(&self, key: &str) -> Result<Option<Bytes>, StorageError> {
        let path = self.path_for(key)?;
        match tokio::fs::read(&path).await {
            Ok(body) => Ok(Some(Bytes::from(body))),
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::NotFound
                        | std::io::ErrorKind::IsADirectory
                        | std::io::ErrorKind::NotADirectory
                ) =>
            {
                Ok(None)
            }
            Err(e) => Err(StorageError::io(key, path, e)),
        }
    }

    async fn delete(&self, key: &str) -> Result<(), StorageError> {
        let path = self.path_for(key)?;
        match tokio::fs::remove_file(&path).await {
            Ok(()) => Ok(()),
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::NotFound | std::io::ErrorKind::NotADirectory
                ) =>
            {
                Ok(())
            }
            Err(e) => Err(StorageError::io(key, path, e)),
        }
    }

    /// A hard link (the content type and cache class are derived from the
    /// key when served, so `meta` is not kept, as for a put).
    async fn copy(&self, from: &str, to: &str, _meta: ObjectMeta) -> Result<bool, StorageError> {
        let source = self.path_for(from)?;
        let target = self.path_for(to)?;
        let key = to.to_owned();
        tokio::task::spawn_blocking(move || link_atomically(&key, &source, &target))
            .await
            .map_err(|e| StorageError::Backend {
                key: to.to_owned(),
                message: format!("copy task failed: {e}"),
                retryable: true,
            })?
    }

    /// `file://<host name><root>`: the same directory on another machine is
    /// another store.
    fn identity(&self) -> Option<String> {
        let host = std::fs::read_to_string("/proc/sys/kernel/hostname").ok()?;
        Some(format!("file://{}{}", host.trim(), self.root.display()))
    }

    async fn list(&self, prefix: &str) -> Result<Vec<String>, StorageError> {
        validate_prefix(prefix)?;
        let root = self.root.clone();
        blocking_listing(prefix.to_owned(), move |prefix| {
            // Start the walk at the deepest directory the prefix names.
            let start = match prefix.rfind('/') {
                Some(i) => root.join(&prefix[..i]),
                None => root.clone(),
            };
            let mut keys = Vec::new();
            collect_keys(&root, &start, prefix, &mut keys)?;
            keys.sort();
            Ok(keys)
        })
        .await
    }

    /// The directories under `prefix` that hold a file somewhere beneath
    /// (a directory a deletion left empty is not a folder, as on S3).
    async fn folders(&self, prefix: &str) -> Result<Vec<String>, StorageError> {
        folder_prefix(prefix)?;
        let dir = self.root.join(prefix);
        blocking_listing(prefix.to_owned(), move |prefix| {
            let Some(entries) = read_dir(prefix, &dir)? else {
                return Ok(Vec::new());
            };
            let mut out = Vec::new();
            for entry in entries {
                let entry = entry.map_err(|e| StorageError::io(prefix, &dir, e))?;
                let Some(name) = entry.file_name().to_str().map(str::to_owned) else {
                    continue;
                };
                let is_dir = entry.file_type().is_ok_and(|t| t.is_dir());
                if is_dir && !name.starts_with('.') && holds_a_file(&entry.path()) {
                    out.push(name);
                }
            }
            out.sort();
            Ok(out)
        })
        .await
    }
}

/// Runs a listing of `prefix` on a blocking thread; a task that fails is a
/// retryable backend error.
async fn blocking_listing<T: Send + 'static>(
    prefix: String,
    work: impl FnOnce(&str) -> Result<T, StorageError> + Send + 'static,
) -> Result<T, StorageError> {
    let task_prefix = prefix.clone();
    tokio::task::spawn_blocking(move || work(&task_prefix))
        .await
        .map_err(|e| StorageError::Backend {
            key: prefix,
            message: format!("listing task failed: {e}"),
            retryable: true,
        })?
}

/// The entries of `dir`, `None` when there is no such directory.
fn read_dir(prefix: &str, dir: &Path) -> Result<Option<std::fs::ReadDir>, StorageError> {
    match std::fs::read_dir(dir) {
        Ok(entries) => Ok(Some(entries)),
        Err(e)
            if matches!(
                e.kind(),
                std::io::ErrorKind::NotFound | std::io::ErrorKind::NotADirectory
            ) =>
        {
            Ok(None)
        }
        Err(e) => Err(StorageError::io(prefix, dir, e)),
    }
}

/// Whether a file lies anywhere under `dir` (links not followed).
fn holds_a_file(dir: &Path) -> bool {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return false;
    };
    entries.filter_map(Result::ok).any(|e| {
        let dotted = e.file_name().to_str().is_none_or(|n| n.starts_with('.'));
        match e.file_type() {
            Ok(t) if t.is_file() => !dotted,
            Ok(t) if t.is_dir() => !dotted && holds_a_file(&e.path()),
            _ => false,
        }
    })
}
