//! Batch payloads from an untrusted agent, both encodings (v1 and v4): the input is used as the
//! uncompressed payload (compressed here, so the decoder's bincode paths are reached) and as
//! compressed bytes with a declared length. Nothing may panic; a payload that decodes must
//! round-trip through the v4 encoder.
#![no_main]

use fleetlog_protocol::codec;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    // As raw payload bytes.
    if let Ok(compressed) = zstd::bulk::compress(data, 1)
        && let Ok(payload) = codec::decode_compressed_payload(&compressed, data.len())
    {
        let (again, raw_len) = codec::encode_payload(&payload).expect("a decoded payload encodes");
        let back = codec::decode_compressed_payload(&again, raw_len as usize)
            .expect("its encoding decodes");
        // Compared as encodings: a NaN score is not equal to itself.
        let (twice, _) = codec::encode_payload(&back).expect("encodes again");
        assert_eq!(twice, again, "decode ∘ encode changed the payload");
    }
    // As compressed bytes, with the declared length taken from the first two bytes.
    if let Some((len, rest)) = data.split_first_chunk::<2>() {
        let declared = usize::from(u16::from_le_bytes(*len));
        let _ = codec::decode_compressed_payload(rest, declared);
        let _ = codec::is_v4_payload(rest);
    }
});
