//! What goes to a WebSocket client: the BEAM's frames to this one
//! connection (compressed where agreed, under send credit), and frames
//! shared by many connections, encoded once and appended as they are.

use super::ws::State;
use super::{Conn, Ctx, DIRECT_WRITE_MIN};
use mio::net::TcpStream;
use crate::protocol::{self, WsFrame};
use crate::ws::close::{self, CloseCode};
use crate::ws::write::{write_close, write_frame, write_header, write_message, MIN_COMPRESS};
use crate::ws::{deflate, Deflater, OpCode};

/// Frames for several connections: the same bytes for each.
pub struct Shared {
    pub bytes: Vec<u8>,
    /// They end with a close frame: each connection then awaits its
    /// client's close.
    pub closes: bool,
}

/// Encodes `frames` once, never compressed (RFC 7692 lets any message go
/// uncompressed), up to the first close frame: nothing may follow it.
pub fn encode_shared(frames: &[WsFrame<'_>]) -> Shared {
    let mut bytes = Vec::with_capacity(frames.iter().map(|f| frame_len(f) + 10).sum());
    for f in frames {
        match f {
            WsFrame::Data(op, data) => {
                write_header(&mut bytes, *op, true, false, data.len());
                bytes.extend_from_slice(data);
            }
            WsFrame::Close(c) => {
                put_close(&mut bytes, c.as_ref().map(|(code, reason)| (*code, &reason[..])));
                return Shared { bytes, closes: true };
            }
        }
    }
    Shared { bytes, closes: false }
}

fn frame_len(f: &WsFrame<'_>) -> usize {
    match f {
        WsFrame::Data(_, data) => data.len(),
        WsFrame::Close(c) => c.as_ref().map_or(0, |(_, r)| r.len() + 2),
    }
}

/// A close frame the BEAM asked for (`protocol` checked its code and reason).
fn put_close(out: &mut Vec<u8>, close: Option<(CloseCode, &[u8])>) {
    let _ = match close {
        Some((code, reason)) => write_close(out, code, reason),
        None => write_frame(out, OpCode::Close, b""),
    };
}

impl Conn {
    /// `{ws_send, Id, Frames}` to this connection alone. Returns false
    /// when `id` is not this WebSocket.
    pub fn ws_send(&mut self, ctx: &mut Ctx<'_>, id: u64, frames: &[WsFrame<'_>]) -> bool {
        match self.ws.as_ref() {
            Some(ws) if ws.id == id && ws.state == State::Open => {}
            // After a close nothing more goes out.
            Some(ws) if ws.id == id => return true,
            _ => return false,
        }
        for f in frames {
            match f {
                WsFrame::Data(op @ (OpCode::Text | OpCode::Binary), data) => {
                    if !self.ws_send_data(ctx, *op, data) {
                        break;
                    }
                }
                WsFrame::Data(op, data) => {
                    let _ = write_frame(&mut self.out, *op, data);
                }
                WsFrame::Close(c) => {
                    put_close(&mut self.out, c.as_ref().map(|(code, reason)| (*code, &reason[..])));
                    self.ws_closing(ctx);
                    break;
                }
            }
        }
        let all_written = self.out_pending() == 0;
        self.ws_credit(ctx, all_written);
        true
    }

    /// A text or binary message under credit. Returns false when the
    /// connection failed instead.
    fn ws_send_data(&mut self, ctx: &mut Ctx<'_>, op: OpCode, data: &[u8]) -> bool {
        let window = ctx.cfg.send_window;
        let queued = self.out_pending() > 0;
        let Some(ws) = self.ws.as_mut() else { return false };
        let len = data.len() as u64;
        if ws.credit.overruns(len, window) {
            ctx.stats.protocol_errors += 1;
            let why = format!("ws_send overran send_window ({window} bytes) by more than a window");
            protocol::protocol_error(ctx.events, Some(ws.id), &why);
            self.ws_fail(ctx, close::INTERNAL_ERROR, b"the server sent faster than its window allows");
            return false;
        }
        if let Some(params) = ws.deflate.filter(|_| data.len() >= MIN_COMPRESS) {
            let before = self.out.len();
            let out = &mut self.out;
            let written = if params.server_no_context_takeover {
                // Nothing carries over between messages: the loop's shared compressor.
                deflate::with_shared(&params, |d| write_message(out, op, data, Some(d)))
            } else {
                if ws.deflater.is_none() {
                    ws.deflater = Deflater::new(&params).map(Box::new);
                }
                ws.deflater.as_mut().map(|d| write_message(out, op, data, Some(&mut **d)))
            };
            match written {
                Some(Ok(())) => {
                    ws.credit.sent(len, (self.out.len() - before) as u64, 0);
                    return true;
                }
                Some(Err(_)) => {
                    self.ws_fail(ctx, close::INTERNAL_ERROR, b"compression failed");
                    return false;
                }
                // A window zlib cannot compress with: send plain from now on.
                None => ws.deflate = None,
            }
        }
        if queued || data.len() < DIRECT_WRITE_MIN {
            write_header(&mut self.out, op, true, false, data.len());
            self.out.extend_from_slice(data);
            ws.credit.sent(len, len, 0);
            return true;
        }
        // A large message with nothing queued: from the command to the socket.
        let mut head = Vec::with_capacity(10);
        write_header(&mut head, op, true, false, data.len());
        let direct = self.send_piece(ctx, &head, data, b"");
        if let Some(ws) = self.ws.as_mut() {
            ws.credit.sent(len, len - direct, direct);
        }
        true
    }

    /// The socket, when frames for many connections may be written to it
    /// before `ws_fan_in`: it is open WebSocket `id` with nothing queued.
    pub fn ws_fan_target(&self, id: u64) -> Option<&TcpStream> {
        let ws = self.ws.as_ref()?;
        let ready = ws.id == id && ws.state == State::Open && self.out_pending() == 0 && !self.dead;
        // Over TLS the frames must pass through rustls: queued, not written here.
        let crate::tls::Transport::Plain(tcp) = &self.stream else { return None };
        ready.then_some(tcp)
    }

    /// Frames encoded once for many connections, of which `written` bytes
    /// went to the socket already (`ws_fan_target`); the rest is appended
    /// as it is. A connection already more than `send_window` behind is
    /// closed with 1008 instead, so a slow subscriber never holds more.
    /// Returns false when `id` is not this open WebSocket.
    pub fn ws_fan_in(&mut self, ctx: &mut Ctx<'_>, id: u64, shared: &Shared, written: usize) -> bool {
        match self.ws.as_ref() {
            Some(ws) if ws.id == id && ws.state == State::Open => {}
            _ => return false,
        }
        if self.out_pending() as u64 > ctx.cfg.send_window {
            self.ws_drop_unread_frames();
            self.ws_fail(ctx, close::POLICY_VIOLATION, b"too slow: more than send_window of messages unread");
            return true;
        }
        ctx.stats.bytes_out += written as u64;
        let written = written.min(shared.bytes.len());
        let before = self.out.len();
        self.out.extend_from_slice(&shared.bytes[written..]);
        if written > 0 {
            // The rest of the frame the socket took in part: whole ones follow it.
            let end = frame_end_after(&shared.bytes, 0, written).unwrap_or(shared.bytes.len());
            self.ws_frames_from(before + end - written);
        }
        if shared.closes {
            self.ws_closing(ctx);
        }
        true
    }

    /// A member too far behind: the frames it has not begun to read go,
    /// so its close comes right after the one being written (which is
    /// finished: the client must be able to parse up to the close). Behind
    /// all it had not read, the close would wait for a client that reads
    /// too little, and be lost to the reset that ends it (issue 7).
    fn ws_drop_unread_frames(&mut self) {
        let Some(ws) = self.ws.as_ref() else { return };
        let from = usize::try_from(ws.mark).unwrap_or(usize::MAX);
        // `out` holds whole frames from `mark`, bytes already sent before it.
        if let Some(end) = frame_end_after(&self.out, from, self.out_written) {
            self.out.truncate(end);
        }
    }

    /// Whole frames begin at `at` in `out`, while the WebSocket is open
    /// (after that `mark` is a deadline).
    pub(super) fn ws_frames_from(&mut self, at: usize) {
        if let Some(ws) = self.ws.as_mut().filter(|ws| ws.state == State::Open) {
            ws.mark = at as u64;
        }
    }

    /// Gives back the credit that is due.
    fn ws_credit(&mut self, ctx: &mut Ctx<'_>, all_written: bool) {
        let Some(ws) = self.ws.as_mut() else { return };
        if let Some(n) = ws.credit.due(ctx.cfg.send_window, all_written) {
            if !ws.reported {
                protocol::stream_credit(ctx.events, ws.id, n);
            }
        }
    }

    /// `n` bytes of output reached the socket.
    pub(super) fn ws_written(&mut self, ctx: &mut Ctx<'_>, n: u64) {
        if let Some(ws) = self.ws.as_mut() {
            ws.credit.written(n);
            self.ws_credit(ctx, false);
        }
    }

    /// The output is all written (and `out` emptied).
    pub(super) fn ws_flushed(&mut self, ctx: &mut Ctx<'_>) {
        if let Some(ws) = self.ws.as_mut() {
            ws.credit.flushed();
            self.ws_credit(ctx, true);
        }
        self.ws_frames_from(0);
    }
}

/// The end of the first frame in `frames` (our own, unmasked, whole from
/// `from` on) that ends at or after `at`: `at` itself when a frame begins
/// there. `None` if `frames` is not whole frames from `from` to there.
fn frame_end_after(frames: &[u8], from: usize, at: usize) -> Option<usize> {
    let mut end = from;
    while end < at {
        let head = frames.get(end..)?;
        let (header, payload) = match *head.get(1)? & 0x7f {
            126 => (4, u16::from_be_bytes(head.get(2..4)?.try_into().ok()?) as usize),
            127 => (10, usize::try_from(u64::from_be_bytes(head.get(2..10)?.try_into().ok()?)).ok()?),
            n => (2, n as usize),
        };
        end = end.checked_add(header)?.checked_add(payload)?;
    }
    (end <= frames.len()).then_some(end)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frame_ends_are_found_from_a_boundary() {
        let mut out = Vec::new();
        let _ = write_frame(&mut out, OpCode::Text, b"hello");
        let first = out.len();
        write_header(&mut out, OpCode::Binary, true, false, 300);
        out.extend_from_slice(&[7; 300]);
        let second = out.len();
        write_header(&mut out, OpCode::Binary, true, true, 70_000);
        out.extend_from_slice(&[9; 70_000]);
        assert_eq!(frame_end_after(&out, 0, 0), Some(0), "at a boundary: nothing to finish");
        assert_eq!(frame_end_after(&out, 0, 3), Some(first));
        assert_eq!(frame_end_after(&out, 0, first), Some(first));
        assert_eq!(frame_end_after(&out, 0, first + 1), Some(second));
        assert_eq!(frame_end_after(&out, first, second + 10), Some(out.len()), "a 64-bit length");
        assert_eq!(frame_end_after(&out[..out.len() - 1], 0, second + 10), None, "a frame cut short");
        // Bytes before `from` (the rest of a frame partly written) are skipped.
        assert_eq!(frame_end_after(&out, first, 2), Some(first));
    }
}
