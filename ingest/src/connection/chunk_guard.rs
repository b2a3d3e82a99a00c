//! The chunk-level guard in front of rml_rtmp's session: it sees the
//! control messages the session applies without telling.

use rml_rtmp::chunk_io::ChunkDeserializer;

use super::{contained, ProtocolError};

const SET_CHUNK_SIZE: u8 = 1;
const WINDOW_ACK_SIZE: u8 = 5;
/// Larger window acknowledgement sizes overflow rml_rtmp's 32-bit byte counter.
pub(super) const MAX_WINDOW_ACK_SIZE: u32 = 0x7fff_ffff;

/// Reads the chunk stream a second time to see the control messages that
/// rml_rtmp's session applies without telling: Set Chunk Size and Window
/// Acknowledgement Size.
pub(super) fn check_chunks(
    guard: &mut ChunkDeserializer,
    bytes: &[u8],
    max_chunk_size: u32,
) -> Result<(), ProtocolError> {
    let mut input = bytes;
    loop {
        let next = contained("chunk guard", || guard.get_next_message(input))?
            .map_err(|e| ProtocolError::Chunk(e.to_string()))?;
        input = &[];
        let Some(payload) = next else { return Ok(()) };
        let value = match payload.data.get(..4) {
            Some(b) => u32::from_be_bytes([b[0], b[1], b[2], b[3]]),
            None => continue,
        };
        match payload.type_id {
            SET_CHUNK_SIZE => {
                let size = value & 0x7fff_ffff;
                if size == 0 || size > max_chunk_size {
                    return Err(ProtocolError::ChunkSize {
                        size,
                        max: max_chunk_size,
                    });
                }
                guard
                    .set_max_chunk_size(size as usize)
                    .map_err(|e| ProtocolError::Chunk(e.to_string()))?;
            }
            WINDOW_ACK_SIZE if value > MAX_WINDOW_ACK_SIZE => {
                return Err(ProtocolError::WindowAckSize(value));
            }
            _ => {}
        }
    }
}
