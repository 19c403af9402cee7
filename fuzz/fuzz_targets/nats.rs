//! The NATS client's input path: server operations parsed incrementally as the bus drives
//! them. Demands: never panic, chunking does not change the result, every message keeps the
//! limits it was parsed under, and a parsed message written back as a server would write it
//! parses to the same message.
#![no_main]

use libfuzzer_sys::fuzz_target;
use snak::proto::nats::{self, Limits, ServerOp};

fn drive(chunks: &[&[u8]], limits: Limits) -> (Vec<String>, usize) {
    let mut out = Vec::new();
    let mut max_payload = limits.max_payload;
    let left = nats::replay(chunks, limits, |got| {
        match got {
            Ok(ServerOp::Info(info)) => max_payload = info.max_payload,
            Ok(ServerOp::Msg(m)) => {
                let header_len = m.headers.as_ref().map_or(0, |h| h.encoded_len());
                assert!(m.payload.len() <= max_payload);
                let mut again = Vec::new();
                nats::write_msg(&mut again, m.subject, m.sid, m.reply, m.headers.as_ref(), m.payload);
                let lax = Limits {
                    max_payload: usize::MAX,
                    max_header: usize::MAX,
                    max_control_line: usize::MAX / 4,
                };
                match nats::parse(&again, &lax) {
                    Ok(Some((ServerOp::Msg(back), used))) => {
                        assert_eq!(used, again.len());
                        assert_eq!((back.subject, back.sid, back.reply), (m.subject, m.sid, m.reply));
                        assert_eq!(back.payload, m.payload);
                        // Continued header lines are joined, so compare what they mean.
                        assert_eq!(back.headers.map(|h| h.encoded_len()).unwrap_or(0), header_len);
                    }
                    other => panic!("written back, parsed as {other:?}"),
                }
            }
            _ => {}
        }
        out.push(format!("{got:?}"));
    });
    (out, left)
}

fuzz_target!(|data: &[u8]| {
    let Some((&pick, data)) = data.split_first() else {
        return;
    };
    let limits = if pick & 1 == 0 {
        Limits::default()
    } else {
        Limits {
            max_payload: usize::from(pick) * 4,
            max_header: usize::from(pick),
            max_control_line: usize::from(pick / 2) + 8,
        }
    };
    let whole = drive(&[data], limits);
    let at = usize::from(pick).wrapping_mul(31) % (data.len() + 1);
    let (a, b) = data.split_at(at);
    let mid = b.len() / 2;
    assert_eq!(drive(&[a, &b[..mid], &b[mid..]], limits), whole, "chunking changed the result");
});
