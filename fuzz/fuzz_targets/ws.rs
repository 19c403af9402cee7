//! The WebSocket input path: client frames decoded incrementally as the web front end will
//! drive them, messages reassembled, pings answered, closes parsed. Demands: never panic,
//! chunking does not change the result, and what comes out keeps the decoder's promises
//! (text is UTF-8, messages and control payloads within their limits).
#![no_main]

use libfuzzer_sys::fuzz_target;
use snak::proto::ws::{self, DataKind, Limits, Opcode, Piece};

fn drive(chunks: &[&[u8]], limits: Limits) -> Vec<String> {
    let mut out = Vec::new();
    ws::replay(chunks, limits, |got| {
        match &got {
            Ok(Piece::Data { kind, bytes, .. }) => {
                assert!(bytes.len() as u64 <= limits.max_message);
                if *kind == DataKind::Text {
                    assert!(std::str::from_utf8(bytes).is_ok(), "text that is not UTF-8");
                }
            }
            Ok(Piece::Ping(payload)) => {
                assert!(payload.len() <= ws::MAX_CONTROL_PAYLOAD);
                let mut pong = Vec::new();
                ws::write_frame(&mut pong, Opcode::Pong, payload);
                assert_eq!(&pong[2..], *payload);
            }
            Ok(Piece::Pong(payload)) => assert!(payload.len() <= ws::MAX_CONTROL_PAYLOAD),
            Ok(Piece::Close { code, reason }) => {
                let mut reply = Vec::new();
                ws::write_close(&mut reply, code.unwrap_or(ws::close::NORMAL), reason);
                assert!(reply.len() <= 2 + ws::MAX_CONTROL_PAYLOAD);
            }
            Err(e) => {
                let mut reply = Vec::new();
                e.write_close(&mut reply);
                assert!(matches!(e.close_code(), 1002 | 1007 | 1009));
            }
        }
        out.push(format!("{got:?}"));
    });
    out
}

/// Reads `data` as a list of frames (opcode and flags byte, length byte, payload) and
/// writes them masked, as a client would, so the fuzzer reaches deep into valid streams;
/// the flags byte may still set reserved bits or clear the mask.
fn frames(data: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    let mut rest = data;
    while let [flags, len, tail @ ..] = rest {
        let len = usize::from(*len).min(tail.len());
        let (payload, after) = tail.split_at(len);
        let opcode = Opcode::from_bits(flags & 0x0F).unwrap_or(Opcode::Continuation);
        let mask = [*flags, len as u8, 0x5a, 0xa5];
        let at = out.len();
        ws::write_masked_frame(&mut out, opcode, flags & 0x80 != 0, mask, payload);
        if flags & 0x40 != 0 && flags & 0x20 != 0 {
            // Now and then a frame that breaks a rule the encoder keeps.
            out[at] ^= flags & 0x70;
            out[at + 1] ^= (flags & 0x10) << 3;
        }
        rest = after;
    }
    out
}

fuzz_target!(|data: &[u8]| {
    let Some((&pick, data)) = data.split_first() else {
        return;
    };
    let stream = if pick & 1 == 0 {
        data.to_vec()
    } else {
        frames(data)
    };
    let limits = if pick & 2 == 0 {
        Limits::default()
    } else {
        Limits {
            max_frame: u64::from(pick / 4),
            max_message: u64::from(pick),
        }
    };
    let whole = drive(&[&stream], limits);
    let at = usize::from(pick).wrapping_mul(31) % (stream.len() + 1);
    let (a, b) = stream.split_at(at);
    let mid = b.len() / 2;
    assert_eq!(
        drive(&[a, &b[..mid], &b[mid..]], limits),
        whole,
        "chunking changed the result"
    );
});
