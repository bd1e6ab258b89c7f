//! Any frame payload the BEAM (or garbage) can send: decoding never panics,
//! never allocates from a length it has not checked, and a decoded command's
//! iodata and header lists can be walked.
#![no_main]

use ferry_fuzz::{etf, protocol};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(term) = etf::decode(data) {
        if let Ok(len) = etf::iodata_len(&term) {
            let mut out = Vec::new();
            etf::write_iodata(&term, &mut out).expect("iodata_len said iodata");
            assert_eq!(out.len(), len);
        }
    }
    match protocol::decode_command(data) {
        Ok(protocol::Command::Respond { headers, body, .. }) => {
            let _ = protocol::iodata_bytes(&body);
            let _ = protocol::for_each_header(&headers, |_, _| Ok(()));
        }
        Ok(protocol::Command::StreamChunk { data, .. }) => {
            let _ = protocol::iodata_bytes(&data);
        }
        Ok(_) => {}
        Err(bad) => assert!(!bad.message.is_empty()),
    }
});
