use super::*;

fn settings() -> ConnectionSettings {
    ConnectionSettings {
        app: "live".to_owned(),
        max_chunk_size: MAX_USEFUL_CHUNK_SIZE,
    }
}

/// A connection past the handshake, as a real client would leave it.
fn after_handshake() -> RtmpConnection {
    let mut conn = RtmpConnection::new(settings());
    let mut client = Handshake::new(PeerType::Client);
    let mut to_server = client.generate_outbound_p0_and_p1().unwrap();
    let mut client_done = false;
    while !conn.handshake_done() {
        let mut events = Vec::new();
        conn.handle_input(&to_server, &mut events).unwrap();
        to_server.clear();
        for e in events {
            if let (ConnectionEvent::Send(b), false) = (e, client_done) {
                match client.process_bytes(&b).unwrap() {
                    HandshakeProcessResult::InProgress { response_bytes } => {
                        to_server.extend(response_bytes)
                    }
                    HandshakeProcessResult::Completed { response_bytes, .. } => {
                        to_server.extend(response_bytes);
                        client_done = true;
                    }
                }
            }
        }
    }
    conn
}

#[test]
fn refuses_a_bad_first_byte() {
    let mut conn = RtmpConnection::new(settings());
    let e = conn.handle_input(&[9; 10], &mut Vec::new()).unwrap_err();
    assert_eq!(e.kind(), "handshake");
    assert!(matches!(
        conn.handle_input(&[3], &mut Vec::new()),
        Err(ProtocolError::Closed)
    ));
}

#[test]
fn contains_the_library_panic_on_a_bare_set_data_frame() {
    let mut conn = after_handshake();
    let mut msg = vec![0x03, 0, 0, 0, 0, 0, 16, 18, 0, 0, 0, 0, 0x02, 0, 13];
    msg.extend_from_slice(b"@setDataFrame");
    let e = conn.handle_input(&msg, &mut Vec::new()).unwrap_err();
    assert_eq!(e.kind(), "library_panic");
}

#[test]
fn refuses_chunk_size_zero_and_huge_window_ack() {
    let mut conn = after_handshake();
    let e = conn.handle_input(
        &[2, 0, 0, 0, 0, 0, 4, 1, 0, 0, 0, 0, 0, 0, 0, 0],
        &mut Vec::new(),
    );
    assert_eq!(e.unwrap_err().kind(), "chunk_size");
    let mut conn = after_handshake();
    let e = conn.handle_input(
        &[2, 0, 0, 0, 0, 0, 4, 5, 0, 0, 0, 0, 0xff, 0xff, 0xff, 0xff],
        &mut Vec::new(),
    );
    assert_eq!(e.unwrap_err().kind(), "window_ack_size");
    let mut conn = after_handshake();
    conn.handle_input(&[2, 0, 0, 0, 0, 0, 4, 1, 0, 0, 0x10, 0], &mut Vec::new())
        .unwrap();
}
