//! A VOD's storyboard: thumbnail tiles for scrubbing, what players show
//! above the seek bar. `storyboard.vtt` beside the manifests lists one cue
//! per tile, each naming its rectangle in a sprite (`storyboard/<n>.jpg`,
//! 10 x 10 tiles of 240 pixels on the longer side) by `#xywh=`, the form
//! Shaka Player, Video.js, Vidstack, Plyr and JW Player read.
//!
//! Made from the stored presentation once its segments are in place: the
//! first picture of every segment (or of every group of segments, past
//! [`plan::MAX_TILES`]) of the smallest video rendition at least a tile
//! wide. Only those pictures are decoded. A tile that cannot be made (a
//! gap, a segment that will not decode) leaves its span without a cue; a
//! storyboard with no tile at all is not written.
//!
//! See `docs/design/thumbnails.md`.

mod sprites;

use bytes::Bytes;
use livefleet_base::layout::{storyboard_sprite_path, STORYBOARD_PATH};
use livefleet_packager::storyboard as plan;
use livefleet_storage::{ObjectMeta, Storage, StorageError};
use std::collections::HashMap;

/// Tiles read ahead of the one being decoded.
const READ_AHEAD: usize = 4;

/// Why a storyboard was not made.
#[derive(Debug, thiserror::Error)]
pub enum StoryboardError {
    #[error("the presentation has no video rendition to take pictures from")]
    NoVideo,
    #[error("the playlist {0} is not there")]
    NoPlaylist(String),
    #[error("no tile could be made")]
    NoTile,
    #[error("{0} has no end (EXT-X-ENDLIST): the presentation is not finished")]
    NotFinished(String),
    #[error("{doing}: {source}")]
    Storage {
        doing: String,
        #[source]
        source: StorageError,
    },
    #[error("a picture could not be made: {0}")]
    Picture(String),
    #[error("a temporary file for decoding could not be written: {0}")]
    Io(std::io::Error),
}

/// What was stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Made {
    /// Tiles with a picture (and a cue).
    pub tiles: usize,
    /// Tiles planned: one per segment or group of segments, gaps left out.
    pub planned: usize,
    pub sprites: usize,
}

/// Makes the storyboard of the presentation at `prefix` (`vod/<channel>/<id>/`)
/// from its master playlist `master` and its media playlists (found by
/// presentation path through `playlist`), reading segments from `storage`
/// and storing the sprites, then `storyboard.vtt`.
pub async fn make(
    storage: &dyn Storage,
    prefix: &str,
    master: &str,
    playlist: impl Fn(&str) -> Option<String>,
) -> Result<Made, StoryboardError> {
    let path = plan::rendition(master).ok_or(StoryboardError::NoVideo)?;
    let body = playlist(&path).ok_or_else(|| StoryboardError::NoPlaylist(path.clone()))?;
    let tiles = plan::tiles(&path, &body, plan::MAX_TILES);
    if tiles.is_empty() {
        return Err(StoryboardError::NoTile);
    }
    let (tx, mut rx) = tokio::sync::mpsc::channel::<(usize, Bytes, Bytes)>(READ_AHEAD);
    let planned = tiles.len();
    let span = tracing::Span::current();
    let pictures = tokio::task::spawn_blocking(move || {
        let _entered = span.enter();
        let mut sprites = sprites::Sprites::new(planned)?;
        let mut made = vec![false; planned];
        while let Some((index, init, segment)) = rx.blocking_recv() {
            match sprites.add(index, &init, &segment) {
                Ok(()) => made[index] = true,
                Err(error) => {
                    tracing::warn!(tile = index, %error, "a storyboard tile could not be made; its span has no thumbnail")
                }
            }
        }
        let tile = sprites.tile_size();
        Ok::<_, StoryboardError>((sprites.finish()?, made, tile))
    });
    let mut inits: HashMap<String, Bytes> = HashMap::new();
    for (index, tile) in tiles.iter().enumerate() {
        if !inits.contains_key(&tile.init) {
            match read(storage, prefix, &tile.init).await? {
                Some(init) => inits.insert(tile.init.clone(), init),
                None => continue,
            };
        }
        let Some(segment) = read(storage, prefix, &tile.segment).await? else {
            continue;
        };
        if tx
            .send((index, inits[&tile.init].clone(), segment))
            .await
            .is_err()
        {
            break;
        }
    }
    drop(tx);
    let (sprites, made, tile) = pictures
        .await
        .map_err(|e| StoryboardError::Picture(format!("the picture thread ended: {e}")))??;
    let (Some(tile), true) = (tile, made.iter().any(|m| *m)) else {
        return Err(StoryboardError::NoTile);
    };
    for (i, jpeg) in sprites.iter().enumerate() {
        write(
            storage,
            &format!("{prefix}{}", storyboard_sprite_path(i)),
            jpeg.clone(),
        )
        .await?;
    }
    let vtt = plan::vtt(&tiles, &made, tile);
    write(
        storage,
        &format!("{prefix}{STORYBOARD_PATH}"),
        Bytes::from(vtt),
    )
    .await?;
    Ok(Made {
        tiles: made.iter().filter(|m| **m).count(),
        planned,
        sprites: sprites.len(),
    })
}

/// Makes again the storyboard of the finished presentation at `prefix`
/// in `storage`, from its stored playlists (`livefleet storyboard`): for
/// outputs made before storyboards existed, or after a failed one.
pub async fn remake(storage: &dyn Storage, prefix: &str) -> Result<Made, StoryboardError> {
    crate::ffmpeg_log::route_to_tracing();
    let text = |path: String| async move {
        let body = get(storage, &format!("{prefix}{path}")).await?;
        body.map(|b| String::from_utf8_lossy(&b).into_owned())
            .ok_or(StoryboardError::NoPlaylist(path))
    };
    let master = text("master.m3u8".to_owned()).await?;
    let path = plan::rendition(&master).ok_or(StoryboardError::NoVideo)?;
    let body = text(path.clone()).await?;
    if !body.contains("#EXT-X-ENDLIST") {
        return Err(StoryboardError::NotFinished(path));
    }
    make(storage, prefix, &master, |p| {
        (p == path).then(|| body.clone())
    })
    .await
}

/// An object of the presentation; `None` (with a warning) when it is not
/// stored: its tile is left out.
async fn read(
    storage: &dyn Storage,
    prefix: &str,
    path: &str,
) -> Result<Option<Bytes>, StoryboardError> {
    let key = format!("{prefix}{path}");
    let body = get(storage, &key).await?;
    if body.is_none() {
        tracing::warn!(%key, "a storyboard tile's segment is not in the store; its span has no thumbnail");
    }
    Ok(body)
}

async fn get(storage: &dyn Storage, key: &str) -> Result<Option<Bytes>, StoryboardError> {
    storage
        .get(key)
        .await
        .map_err(|source| StoryboardError::Storage {
            doing: format!("reading {key}"),
            source,
        })
}

async fn write(storage: &dyn Storage, key: &str, body: Bytes) -> Result<(), StoryboardError> {
    storage
        .put(key, body, ObjectMeta::for_key(key))
        .await
        .map_err(|source| StoryboardError::Storage {
            doing: format!("storing {key}"),
            source,
        })
}

#[cfg(test)]
mod tests;
