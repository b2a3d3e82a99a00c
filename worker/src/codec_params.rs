//! Codec parameters between FFmpeg and the rest of the worker: built from
//! the configuration record a live source sends, and read back (picture
//! size, configuration bytes, the packager's name for the codec).

use ff::codec;
use ffmpeg_next as ff;
use livefleet_base::Track;

/// Builds decoder parameters from a codec id and its configuration record
/// (`avcC` for H.264, `AudioSpecificConfig` for AAC), as the live path receives them.
pub fn parameters_from_config(track: Track, id: codec::Id, config: &[u8]) -> codec::Parameters {
    let mut p = codec::Parameters::new();
    // SAFETY: we own `p`; extradata is allocated with FFmpeg's allocator with the
    // padding FFmpeg requires, and ownership passes to the parameters, which free it.
    unsafe {
        let ptr = p.as_mut_ptr();
        (*ptr).codec_type = match track {
            Track::Video => ff::ffi::AVMediaType::AVMEDIA_TYPE_VIDEO,
            Track::Audio => ff::ffi::AVMediaType::AVMEDIA_TYPE_AUDIO,
        };
        (*ptr).codec_id = id.into();
        let pad = ff::ffi::AV_INPUT_BUFFER_PADDING_SIZE as usize;
        let buf = ff::ffi::av_mallocz(config.len() + pad) as *mut u8;
        if !buf.is_null() {
            std::ptr::copy_nonoverlapping(config.as_ptr(), buf, config.len());
            (*ptr).extradata = buf;
            (*ptr).extradata_size = config.len() as i32;
        }
    }
    p
}

/// A video stream's picture size: from its parameters (a file), or from the
/// SPS in its configuration (a live source, whose parameters carry only that).
pub fn picture_size(parameters: &codec::Parameters) -> Option<(u32, u32)> {
    // SAFETY: plain field reads of parameters we hold a reference to.
    let (w, h) = unsafe {
        let ptr = parameters.as_ptr();
        ((*ptr).width, (*ptr).height)
    };
    if w > 0 && h > 0 {
        return Some((w as u32, h as u32));
    }
    let codec = packaged_codec(parameters.id())?;
    let config =
        livefleet_packager::VideoCodecConfig::from_extradata(codec, &extradata(parameters)).ok()?;
    Some((config.sps().width, config.sps().height))
}

/// The codec a stream of `id` is packaged as when copied (H.264, HEVC or AV1);
/// `None` for the codecs the packager does not carry.
pub fn packaged_codec(id: codec::Id) -> Option<livefleet_packager::VideoCodec> {
    match id {
        codec::Id::H264 => Some(livefleet_packager::VideoCodec::H264),
        codec::Id::HEVC => Some(livefleet_packager::VideoCodec::Hevc),
        codec::Id::AV1 => Some(livefleet_packager::VideoCodec::Av1),
        _ => None,
    }
}

/// The codec configuration bytes of a stream (avcC, Annex B headers or ASC).
pub fn extradata(parameters: &codec::Parameters) -> Vec<u8> {
    // SAFETY: reading FFmpeg-owned memory of the stated size.
    unsafe {
        let ptr = parameters.as_ptr();
        if (*ptr).extradata.is_null() || (*ptr).extradata_size <= 0 {
            return Vec::new();
        }
        std::slice::from_raw_parts((*ptr).extradata, (*ptr).extradata_size as usize).to_vec()
    }
}
