//! WebSocket frames from a client: the messages and the verdict do not
//! depend on how the bytes are cut, limits hold, and nothing panics. The
//! first input byte picks permessage-deflate (low bit) and the cut size.
#![no_main]

use ferry_fuzz::ws::extensions::DeflateParams;
use ferry_fuzz::ws::{Decoder, Limits, Message, WsError};
use libfuzzer_sys::fuzz_target;

const LIMITS: Limits = Limits { max_frame: 4096, max_message: 16 * 1024, max_inflated: 16 * 1024 };

fn run(data: &[u8], step: usize, deflate: bool) -> (Vec<Message>, Option<WsError>) {
    let params = DeflateParams::default();
    let mut dec = Decoder::new(LIMITS, deflate.then_some(&params));
    let mut got = Vec::new();
    for piece in data.chunks(step) {
        let mut at = 0;
        loop {
            match dec.decode(&piece[at..]) {
                Ok((used, msg)) => {
                    at += used;
                    assert!(at <= piece.len());
                    match msg {
                        Some(m) => {
                            if let Message::Text(t) | Message::Binary(t) = &m {
                                assert!(t.len() <= LIMITS.max_message);
                            }
                            if let Message::Text(t) = &m {
                                assert!(std::str::from_utf8(t).is_ok());
                            }
                            got.push(m);
                        }
                        None => {
                            assert_eq!(at, piece.len());
                            break;
                        }
                    }
                }
                Err(e) => return (got, Some(e)),
            }
        }
        assert!(dec.buffered() <= 2 * LIMITS.max_message + step + 1024);
    }
    (got, None)
}

fuzz_target!(|input: &[u8]| {
    let Some((&flags, data)) = input.split_first() else { return };
    let deflate = flags & 1 == 1;
    let whole = run(data, data.len().max(1), deflate);
    let split = run(data, (flags >> 1) as usize + 1, deflate);
    assert_eq!(whole, split, "the cut changes the result");
});
