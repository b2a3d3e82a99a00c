//! Object paths under a channel's live prefix (`live/<channel>/`) that more
//! than one part of the system names.

/// The channel's preview picture, beside its manifests: the worker renews
/// it at every segment start, the archive keeps the last one as the VOD's
/// poster, the admin API hands out its URL.
pub const THUMBNAIL_PATH: &str = "thumbnail.jpg";

/// A VOD's storyboard: WebVTT cues of thumbnail tiles for scrubbing, each
/// naming a tile of a sprite ([`storyboard_sprite_path`]) by
/// `#xywh=`. The archive writes it, the admin API hands out its URL.
pub const STORYBOARD_PATH: &str = "storyboard.vtt";

/// Sprite `index` of a storyboard, relative to the presentation (the cues
/// name it relative to [`STORYBOARD_PATH`], which sits beside it).
pub fn storyboard_sprite_path(index: usize) -> String {
    format!("storyboard/{index}.jpg")
}

/// Whether `path` names a storyboard sprite ([`storyboard_sprite_path`]).
pub fn is_storyboard_sprite(path: &str) -> bool {
    path.strip_prefix("storyboard/")
        .and_then(|p| p.strip_suffix(".jpg"))
        .and_then(decimal::<usize>)
        .is_some()
}

/// A channel's past broadcasts, beside its VODs (`vod/<channel>/`): the
/// archive writes it, viewer pages read it.
pub const BROADCASTS_LISTING_PATH: &str = "broadcasts.json";

/// The store key of `channel`'s listing ([`BROADCASTS_LISTING_PATH`]).
pub fn broadcasts_listing_key(channel: &impl std::fmt::Display) -> String {
    format!("vod/{channel}/{BROADCASTS_LISTING_PATH}")
}

/// Whether `key` is a channel's listing ([`broadcasts_listing_key`]): it
/// changes with every VOD, unlike the rest of `vod/`.
pub fn is_broadcasts_listing_key(key: &str) -> bool {
    key.strip_prefix("vod/")
        .and_then(|k| k.strip_suffix(BROADCASTS_LISTING_PATH))
        .and_then(|channel| channel.strip_suffix('/'))
        .is_some_and(|channel| !channel.is_empty() && !channel.contains('/'))
}

/// The chat replay file of media segment `number`: the chat relay writes
/// it, the worker deletes it with its segment, the archive copies it.
pub fn chat_replay_path(number: u64) -> String {
    format!("chat/{number}.json")
}

/// The segment number of a chat replay path ([`chat_replay_path`]).
pub fn chat_replay_number(path: &str) -> Option<u64> {
    decimal(path.strip_prefix("chat/")?.strip_suffix(".json")?)
}

/// A number in an object name: plain decimal digits only (no sign, no
/// spaces, nothing after), within `T`.
pub fn decimal<T: std::str::FromStr>(text: &str) -> Option<T> {
    if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    text.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn storyboard_sprites_are_known_by_their_path() {
        assert!(is_storyboard_sprite(&storyboard_sprite_path(12)));
        for not in [
            "storyboard/x.jpg",
            "storyboard.vtt",
            "storyboard/1.jpg/2",
            "a/storyboard/1.jpg",
        ] {
            assert!(!is_storyboard_sprite(not), "{not}");
        }
    }

    #[test]
    fn a_channel_listing_is_known_by_its_key() {
        assert_eq!(broadcasts_listing_key(&"show"), "vod/show/broadcasts.json");
        assert!(is_broadcasts_listing_key(&broadcasts_listing_key(&"show")));
        for not in [
            "vod/broadcasts.json",
            "vod//broadcasts.json",
            "vod/show/b1/broadcasts.json",
            "live/show/broadcasts.json",
            "vod/show/xbroadcasts.json",
        ] {
            assert!(!is_broadcasts_listing_key(not), "{not}");
        }
    }

    #[test]
    fn chat_paths_go_both_ways() {
        assert_eq!(chat_replay_number(&chat_replay_path(42)), Some(42));
        for not in [
            "chat/.json",
            "chat/4a.json",
            "360p/4.m4s",
            "chat/4.json.tmp",
            "chat/-1.json",
        ] {
            assert_eq!(chat_replay_number(not), None, "{not}");
        }
    }
}
