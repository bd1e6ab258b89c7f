//! Request bodies from hostile clients (issue 9): a chunked body of 1-byte
//! chunks must not become one message per chunk for the VM, and framing
//! that outweighs its data is refused (PROTOCOL.md "Streamed request bodies").

mod support;

use support::*;

/// Chunk-size lines beyond 16 bytes plus twice their chunk's size add up;
/// past 16 KiB of such excess the body is malformed: 400, `bad_body`.
/// 1024 chunks of 1 byte with a 30-byte extension are 16 bytes over each:
/// exactly the limit passes, one more chunk does not.
#[test]
fn framing_that_outweighs_the_data_is_400_bad_body() {
    let chunks = |n: usize| format!("1;{}\r\nX\r\n", "e".repeat(30)).repeat(n) + "0\r\n\r\n";
    let mut ferry = Ferry::start(&[("inline_body", int(0))]);
    for (n, refused) in [(1024, false), (1025, true)] {
        let mut client = ferry.client();
        client.try_send(format!("POST /x HTTP/1.1\r\nhost: t\r\ntransfer-encoding: chunked\r\n\r\n{}", chunks(n)));
        let req = ferry.expect_request();
        ferry.read_body(req.id, 1 << 20);
        let t = ferry.expect(&format!("the end of body {n}"), |t| {
            matches!(t.tag(), Some("closed") | Some("body_end")) && t.el(1).int() == Some(req.id)
        });
        if refused {
            assert_eq!((t.tag(), t.el(2).atom()), (Some("closed"), Some("bad_body")), "{n} chunks: {t}");
            let resp = client.try_response(false).expect("a 400");
            assert_eq!(resp.status, 400);
            client.expect_eof();
        } else {
            assert_eq!(t.tag(), Some("body_end"), "{n} chunks: {t}");
            ferry.respond(req.id, 200, &[], "");
            assert_eq!(client.response().status, 200);
        }
    }
}
