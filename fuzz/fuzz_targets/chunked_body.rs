//! Chunked request bodies: the decoder's result (body bytes, trailers,
//! error) is the same whether the input comes at once or split at points
//! and grant sizes chosen by the fuzzer.
#![no_main]

use ferry_fuzz::http::chunked::{ChunkedDecoder, Decoded};
use libfuzzer_sys::fuzz_target;

#[derive(Debug, PartialEq)]
struct Outcome {
    body: Vec<u8>,
    done: bool,
    error: Option<String>,
    trailers: Vec<(Vec<u8>, Vec<u8>)>,
}

/// Feeds `data` in pieces of `step` bytes, taking at most `grant` body bytes per call.
fn run(data: &[u8], step: usize, grant: usize) -> Outcome {
    let mut dec = ChunkedDecoder::new(1 << 20, 1024, 16);
    let mut body = Vec::new();
    let mut pending: Vec<u8> = Vec::new();
    let mut fed = 0;
    loop {
        if fed < data.len() {
            let n = step.min(data.len() - fed);
            pending.extend_from_slice(&data[fed..fed + n]);
            fed += n;
        }
        // Use what is pending until the decoder needs more.
        loop {
            match dec.decode(&pending, grant) {
                Ok((used, Decoded::Data(r))) => {
                    assert!(r.end <= used && used <= pending.len());
                    assert!(!r.is_empty() && r.len() <= grant);
                    body.extend_from_slice(&pending[r]);
                    pending.drain(..used);
                }
                Ok((used, Decoded::NeedMore)) => {
                    pending.drain(..used);
                    break;
                }
                Ok((_, Decoded::Done)) => {
                    return Outcome { body, done: true, error: None, trailers: dec.trailers.clone() };
                }
                Err(e) => return Outcome { body, done: false, error: Some(format!("{e:?}")), trailers: vec![] },
            }
        }
        if fed == data.len() {
            return Outcome { body, done: false, error: None, trailers: vec![] };
        }
    }
}

fuzz_target!(|input: &[u8]| {
    let Some((&[step, grant], data)) = input.split_first_chunk::<2>() else { return };
    let whole = run(data, usize::MAX, usize::MAX);
    let split = run(data, step as usize + 1, grant as usize + 1);
    // Errors may be found after different amounts of body were handed out;
    // everything else must agree.
    if whole.error.is_some() || split.error.is_some() {
        assert_eq!(whole.error, split.error, "split changes the verdict");
        return;
    }
    assert_eq!(whole, split);
});
