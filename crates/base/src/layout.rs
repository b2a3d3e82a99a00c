//! Object paths under a channel's live prefix (`live/<channel>/`) that more
//! than one part of the system names.

/// The chat replay file of media segment `number`: the chat relay writes
/// it, the worker deletes it with its segment, the archive copies it.
pub fn chat_replay_path(number: u64) -> String {
    format!("chat/{number}.json")
}
