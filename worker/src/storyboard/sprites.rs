//! The storyboard's pictures: each tile's segment decoded to its first
//! picture, scaled to the tile's size and placed in its sprite; the sprites
//! encoded as JPEG at the end. Blocking (FFmpeg); one thread per storyboard.

use std::io::Write;
use std::path::Path;

use bytes::Bytes;
use ff::{codec, format::Pixel, frame, media};
use ffmpeg_next as ff;

use super::StoryboardError;
use crate::jpeg::{Jpeg, Shrinker};
use livefleet_packager::storyboard::{self as plan, TILE_LONGEST};

/// Full-range black, as JPEG pictures are coded: the cells of tiles not made.
const BLACK: [u8; 3] = [0, 128, 128];

/// Sprites being filled, tile by tile.
pub(crate) struct Sprites {
    tiles: usize,
    /// Fixed by the first picture decoded; every tile is scaled to it.
    tile: Option<(u32, u32)>,
    sheets: Vec<Option<frame::Video>>,
    shrinker: Shrinker,
    dir: tempfile::TempDir,
}

impl Sprites {
    /// Sprites for `tiles` tiles.
    pub fn new(tiles: usize) -> Result<Self, StoryboardError> {
        Ok(Self {
            tiles,
            tile: None,
            sheets: (0..tiles.div_ceil(plan::COLUMNS * plan::ROWS))
                .map(|_| None)
                .collect(),
            shrinker: Shrinker::default(),
            dir: tempfile::tempdir().map_err(StoryboardError::Io)?,
        })
    }

    /// The tiles' size, once a picture was decoded.
    pub fn tile_size(&self) -> Option<(u32, u32)> {
        self.tile
    }

    /// Places tile `index`: the first picture of `segment` decoded with `init`.
    pub fn add(
        &mut self,
        index: usize,
        init: &[u8],
        segment: &[u8],
    ) -> Result<(), StoryboardError> {
        if index >= self.tiles {
            return Err(StoryboardError::Picture(format!(
                "tile {index} of {}",
                self.tiles
            )));
        }
        let picture = first_picture(self.dir.path(), init, segment)?;
        let tile = *self.tile.get_or_insert_with(|| {
            crate::jpeg::fit(
                picture.width(),
                picture.height(),
                picture.aspect_ratio(),
                TILE_LONGEST,
            )
        });
        let small = self
            .shrinker
            .shrink(&picture, tile)
            .map_err(|e| StoryboardError::Picture(e.to_string()))?;
        let (sprite, x, y) = plan::place(index, tile);
        let tiles = self.tiles;
        let sheet = self.sheets[sprite]
            .get_or_insert_with(|| black(plan::sprite_size(sprite, tiles, tile)));
        paste(sheet, &small, x, y);
        Ok(())
    }

    /// The sprites as JPEG, in order (a sprite with no tile made is black).
    pub fn finish(self) -> Result<Vec<Bytes>, StoryboardError> {
        let Some(tile) = self.tile else {
            return Ok(Vec::new());
        };
        let mut jpeg = Jpeg::default();
        let mut out = Vec::new();
        for (i, sheet) in self.sheets.into_iter().enumerate() {
            let mut sheet = sheet.unwrap_or_else(|| black(plan::sprite_size(i, self.tiles, tile)));
            let bytes = jpeg
                .encode(&mut sheet)
                .map_err(|e| StoryboardError::Picture(e.to_string()))?;
            out.push(bytes);
        }
        Ok(out)
    }
}

/// A black sprite of `size`.
fn black((width, height): (u32, u32)) -> frame::Video {
    let mut sheet = frame::Video::new(Pixel::YUVJ420P, width, height);
    for (plane, value) in BLACK.iter().enumerate() {
        sheet.data_mut(plane).fill(*value);
    }
    sheet
}

/// Copies `tile` (4:2:0, even size and position) into `sheet` at (`x`, `y`).
fn paste(sheet: &mut frame::Video, tile: &frame::Video, x: u32, y: u32) {
    for plane in 0..3 {
        let shift = u32::from(plane > 0);
        let (px, py) = ((x >> shift) as usize, (y >> shift) as usize);
        let width = (tile.width() >> shift) as usize;
        let rows = (tile.height() >> shift) as usize;
        let (from_stride, to_stride) = (tile.stride(plane), sheet.stride(plane));
        let sheet_rows = sheet.plane_height(plane) as usize;
        let sheet_width = sheet.plane_width(plane) as usize;
        let width = width.min(sheet_width.saturating_sub(px));
        for row in 0..rows.min(sheet_rows.saturating_sub(py)) {
            let from = &tile.data(plane)[row * from_stride..][..width];
            sheet.data_mut(plane)[(py + row) * to_stride + px..][..width].copy_from_slice(from);
        }
    }
}

/// `path` opened for reading without `avformat_find_stream_info`, which
/// would decode pictures to learn what the init segment already says: a
/// tile's cost was a third higher with it.
fn open(path: &Path) -> Result<ff::format::context::Input, ff::Error> {
    use std::os::unix::ffi::OsStrExt;
    let path =
        std::ffi::CString::new(path.as_os_str().as_bytes()).map_err(|_| ff::Error::InvalidData)?;
    let mut context = std::ptr::null_mut();
    // SAFETY: a valid C string and a null context for FFmpeg to allocate;
    // on success the context is ours, and `Input` closes it when dropped.
    unsafe {
        match ff::ffi::avformat_open_input(
            &mut context,
            path.as_ptr(),
            std::ptr::null(),
            std::ptr::null_mut(),
        ) {
            0 => Ok(ff::format::context::Input::wrap(context)),
            e => Err(ff::Error::from(e)),
        }
    }
}

/// The first picture of a CMAF segment: `init` and `segment` written one
/// after the other in `dir` are a fragmented MP4 FFmpeg reads.
fn first_picture(dir: &Path, init: &[u8], segment: &[u8]) -> Result<frame::Video, StoryboardError> {
    let path = dir.join("tile.mp4");
    let mut file = std::fs::File::create(&path).map_err(StoryboardError::Io)?;
    file.write_all(init)
        .and_then(|()| file.write_all(segment))
        .map_err(StoryboardError::Io)?;
    drop(file);
    let decode = |e: ff::Error| StoryboardError::Picture(format!("decoding the segment: {e}"));
    let mut input = open(&path).map_err(decode)?;
    let stream = input
        .streams()
        .best(media::Type::Video)
        .ok_or_else(|| StoryboardError::Picture("the segment has no video".into()))?;
    let index = stream.index();
    let mut decoder = codec::context::Context::from_parameters(stream.parameters())
        .and_then(|c| c.decoder().video())
        .map_err(decode)?;
    let mut picture = frame::Video::empty();
    for (stream, packet) in input.packets() {
        if stream.index() != index {
            continue;
        }
        decoder.send_packet(&packet).map_err(decode)?;
        if decoder.receive_frame(&mut picture).is_ok() {
            return Ok(picture);
        }
    }
    decoder.send_eof().map_err(decode)?;
    decoder
        .receive_frame(&mut picture)
        .map(|()| picture)
        .map_err(|_| StoryboardError::Picture("the segment gave no picture".into()))
}
