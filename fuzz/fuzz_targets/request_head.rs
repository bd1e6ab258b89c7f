//! Request heads from clients: parsing never panics, and is monotone in the
//! input: if a head parses, every prefix of it is "need more" or the same
//! result (a split read never turns a good head into an error).
#![no_main]

use ferry_fuzz::http::request::{parse, Limits};
use libfuzzer_sys::fuzz_target;

const LIMITS: Limits = Limits { max_request_line: 256, max_header_bytes: 1024, max_headers: 16, max_body: 1 << 20 };

fn summary(buf: &[u8]) -> Result<Option<(usize, Vec<u8>, Vec<u8>)>, String> {
    parse(buf, &LIMITS, |h| {
        assert!(h.len <= buf.len());
        (h.len, h.method.to_vec(), h.path.to_vec())
    })
    .map_err(|e| format!("{e:?}"))
}

fuzz_target!(|data: &[u8]| {
    let whole = summary(data);
    if let Ok(Some((len, _, _))) = &whole {
        for cut in 0..*len {
            match summary(&data[..cut]) {
                Ok(None) => {}
                other => panic!("prefix of {cut} bytes gave {other:?}, whole gave {whole:?}"),
            }
        }
    }
});
