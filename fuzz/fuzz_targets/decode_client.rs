//! Fuzzes the decoder of browser messages: any bytes a client can send must decode to a
//! message or an error, never a panic, and every message that decodes must survive a round
//! trip through the encoder unchanged.
#![no_main]

use duet::protocol::{decode_client, encode};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(msg) = decode_client(text) {
        let again = decode_client(&encode(&msg)).expect("an encoded message decodes");
        assert_eq!(again, msg);
    }
});
