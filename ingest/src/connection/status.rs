//! The `onStatus` error a publisher is told before its publish ends.

use rml_rtmp::chunk_io::ChunkSerializer;
use rml_rtmp::messages::RtmpMessage;
use rml_rtmp::rml_amf0::Amf0Value;
use rml_rtmp::time::RtmpTimestamp;

/// The bytes of an `onStatus` command of level `error` with `code` (such as
/// `NetStream.Publish.BadName`) and `description` (what the publisher's log
/// shows). It goes on message stream 1, the stream a publisher's only
/// `createStream` gets from this server, in one chunk of at most
/// `chunk_size`, the session's outbound chunk size.
pub(super) fn error_status(code: &str, description: &str, chunk_size: u32) -> Option<Vec<u8>> {
    let mut status = std::collections::HashMap::new();
    status.insert("level".to_owned(), Amf0Value::Utf8String("error".into()));
    status.insert("code".to_owned(), Amf0Value::Utf8String(code.into()));
    status.insert(
        "description".to_owned(),
        Amf0Value::Utf8String(description.into()),
    );
    let message = RtmpMessage::Amf0Command {
        command_name: "onStatus".into(),
        transaction_id: 0.0,
        command_object: Amf0Value::Null,
        additional_arguments: vec![Amf0Value::Object(status)],
    };
    let payload = message
        .into_message_payload(RtmpTimestamp::new(0), 1)
        .ok()?;
    let mut serializer = ChunkSerializer::new();
    serializer
        .set_max_chunk_size(chunk_size, RtmpTimestamp::new(0))
        .ok()?;
    serializer
        .serialize(&payload, true, false)
        .ok()
        .map(|packet| packet.bytes)
}
