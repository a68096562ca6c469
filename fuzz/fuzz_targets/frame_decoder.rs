//! Frames from an untrusted peer: the streaming decoder fed the bytes in arbitrary pieces, and
//! the small-limit first-frame decoder. Neither may panic or allocate past its limits; every
//! frame decoded must encode again and decode to the same encoding.
#![no_main]

use fleetlog_protocol::codec::{self, FrameDecoder};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = codec::decode_first_body(data);
    let _ = codec::decode_body(data);
    let (split, bytes) = match data.split_first() {
        Some((s, rest)) => (usize::from(*s).max(1), rest),
        None => return,
    };
    let mut decoder = FrameDecoder::new();
    for piece in bytes.chunks(split) {
        decoder.push(piece);
        loop {
            match decoder.next_frame() {
                Ok(Some(frame)) => {
                    let again = codec::encode(&frame).expect("a decoded frame encodes");
                    let (back, used) = codec::decode(&again)
                        .expect("its encoding decodes")
                        .expect("whole");
                    assert_eq!(used, again.len());
                    // Compared as encodings: a NaN (a heartbeat's load) is not equal to itself.
                    assert_eq!(
                        codec::encode(&back).expect("encodes again"),
                        again,
                        "decode ∘ encode changed the frame"
                    );
                }
                Ok(None) => break,
                // A malformed stream ends the connection: stop here as the collector does.
                Err(_) => return,
            }
        }
    }
});
