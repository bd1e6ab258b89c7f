//! From the client's bytes to whole, checked messages (RFC 6455 §5.4-5.6):
//! frames are read as they arrive, whatever the cuts; fragments are joined,
//! control frames between them are handed out at once; limits are checked
//! before bytes are kept; text is checked as it arrives.

use super::close::{self, Close};
use super::deflate::Inflater;
use super::extensions::DeflateParams;
use super::frame::{self, FrameHeader, OpCode, Rules, MAX_HEADER};
use super::mask;
use super::utf8::Utf8Check;
use super::{Limits, WsError};

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Message {
    /// Valid UTF-8, inflated if it was compressed.
    Text(Vec<u8>),
    Binary(Vec<u8>),
    Ping(Vec<u8>),
    Pong(Vec<u8>),
    /// The client's close frame (`None`: it had no code, report 1005).
    /// The decoder ignores everything after it.
    Close(Option<Close>),
}

/// Largest copy of compressed bytes the inflater keeps between frames.
const SCRATCH_KEPT: usize = 16 * 1024;

/// A data message whose last frame has not come yet.
struct Partial {
    text: bool,
    compressed: bool,
    utf8: Utf8Check,
}

/// The client's compressed messages: the inflater and the bytes it reads,
/// made together for the first compressed message (boxed: a connection
/// that never sends one keeps 8 bytes for both).
struct Inflating {
    inflater: Inflater,
    /// Compressed bytes of this read, unmasked before inflating.
    scratch: Vec<u8>,
}

/// The frame whose payload is being read.
struct Current {
    header: FrameHeader,
    /// Payload bytes read so far.
    read: u64,
}

/// Every idle WebSocket keeps one: its size is part of what an idle
/// connection costs (hence no stored `Rules`, whose bool would be padded
/// to 8 bytes; `rules` makes them from `deflate` and `max_frame`).
pub struct Decoder {
    /// The `Limits`, as u32s (the options stop at 2^31): 12 bytes, not 24.
    max_frame: u32,
    max_message: u32,
    /// `Limits::max_inflated`, capped by `max_message`.
    max_inflated: u32,
    /// permessage-deflate as agreed; the inflater is made for the first
    /// compressed message (it holds tens of KiB), so a connection that
    /// never sends one costs nothing for it.
    deflate: Option<DeflateParams>,
    inflating: Option<Box<Inflating>>,
    /// A header cut by the end of the input so far (`header_len` a u8:
    /// it is at most `MAX_HEADER`).
    header: [u8; MAX_HEADER],
    header_len: u8,
    frame: Option<Current>,
    message: Option<Partial>,
    /// The data message being put together (inflated, if compressed).
    data: Vec<u8>,
    /// The payload of the control frame being read.
    control: Vec<u8>,
    /// A close frame was read: the rest is ignored.
    closed: bool,
    /// The error that failed the connection, given again if fed more
    /// (boxed: 8 bytes instead of 24, for a rare case).
    failed: Option<Box<WsError>>,
}

impl Decoder {
    /// `deflate`: the permessage-deflate agreed in the handshake, if any.
    pub fn new(limits: Limits, deflate: Option<&DeflateParams>) -> Self {
        Decoder {
            max_frame: u32::try_from(limits.max_frame).unwrap_or(u32::MAX),
            max_message: u32::try_from(limits.max_message).unwrap_or(u32::MAX),
            max_inflated: u32::try_from(limits.max_inflated.min(limits.max_message)).unwrap_or(u32::MAX),
            deflate: deflate.copied(),
            inflating: None,
            header: [0; MAX_HEADER],
            header_len: 0,
            frame: None,
            message: None,
            data: Vec::new(),
            control: Vec::new(),
            closed: false,
            failed: None,
        }
    }

    /// Reads from `input` until a message is complete or the input ends.
    /// Returns the bytes used and the message, if one completed; the bytes
    /// after it are for the next call. `Err` fails the connection with the
    /// error's close code.
    #[allow(dead_code)] // The tests and the fuzz target read with no quota.
    pub fn decode(&mut self, input: &[u8]) -> Result<(usize, Option<Message>), WsError> {
        self.decode_within(input, &mut { usize::MAX })
    }

    /// `decode`, stopping also once compressed messages have inflated to
    /// `quota` more bytes (taken off it): the input not used then is for a
    /// later call, as after a cut. The connection's share of a turn.
    pub fn decode_within(&mut self, input: &[u8], quota: &mut usize) -> Result<(usize, Option<Message>), WsError> {
        if let Some(e) = self.failed.as_deref() {
            return Err(*e);
        }
        let r = self.decode_inner(input, quota);
        if let Err(e) = r {
            self.failed = Some(Box::new(e));
            // Nothing more is read: what the message held goes back now,
            // not when the close frame has reached a client that may not read.
            self.data = Vec::new();
            self.inflating = None;
        }
        r
    }

    /// A data message has begun and not ended.
    pub fn in_message(&self) -> bool {
        self.message.is_some()
    }

    /// Bytes held for messages not yet complete: what the connection costs.
    #[allow(dead_code)] // Measured by the tests and the fuzz target.
    pub fn buffered(&self) -> usize {
        self.data.capacity() + self.control.capacity() + self.inflating.as_ref().map_or(0, |i| i.scratch.capacity())
    }

    fn decode_inner(&mut self, input: &[u8], quota: &mut usize) -> Result<(usize, Option<Message>), WsError> {
        let mut at = 0;
        loop {
            if self.closed {
                return Ok((input.len(), None));
            }
            let current = match self.frame.take() {
                Some(f) => f,
                None => match self.read_header(&input[at..])? {
                    (used, Some(header)) => {
                        at += used;
                        self.start_frame(header)?;
                        Current { header, read: 0 }
                    }
                    (used, None) => return Ok((at + used, None)),
                },
            };
            let (header, offset) = (current.header, current.read);
            let n = (header.len - offset).min((input.len() - at) as u64) as usize;
            let used = self.payload(&header, offset, &input[at..at + n], quota)?;
            at += used;
            let read = offset + used as u64;
            if read < header.len {
                // The input ended, or the quota ran out: the rest waits.
                self.frame = Some(Current { header, read });
                return Ok((at, None));
            }
            if let Some(message) = self.end_frame(&header)? {
                return Ok((at, Some(message)));
            }
        }
    }

    /// What a header may be on this connection.
    fn rules(&self) -> Rules {
        Rules { deflate: self.deflate.is_some(), max_frame: self.max_frame.into() }
    }

    /// The next header, from the bytes kept from earlier input and `input`.
    /// Returns the bytes of `input` used and the header once it is whole.
    fn read_header(&mut self, input: &[u8]) -> Result<(usize, Option<FrameHeader>), WsError> {
        if self.header_len == 0 {
            // The usual case: the whole header is in this input.
            if let Some((h, used)) = frame::parse_header(input, self.rules())? {
                return Ok((used, Some(h)));
            }
        }
        let mut used = 0;
        loop {
            // Take only the header's bytes: the payload is not copied here.
            let have = self.header_len as usize;
            let want = frame::header_len(&self.header[..have]);
            let n = (want - have).min(input.len() - used);
            self.header[have..have + n].copy_from_slice(&input[used..used + n]);
            // At most MAX_HEADER (14): fits.
            self.header_len = (have + n) as u8;
            used += n;
            match frame::parse_header(&self.header[..have + n], self.rules())? {
                Some((h, _)) => {
                    self.header_len = 0;
                    return Ok((used, Some(h)));
                }
                None if used == input.len() => return Ok((used, None)),
                None => {}
            }
        }
    }

    /// The sequence rules (§5.4) and the message limit, before any payload.
    fn start_frame(&mut self, h: FrameHeader) -> Result<(), WsError> {
        match h.opcode {
            OpCode::Close | OpCode::Ping | OpCode::Pong => self.control.clear(),
            OpCode::Continuation if self.message.is_none() => {
                return Err(WsError::Protocol("continuation frame with no message to continue (RFC 6455 5.4)"));
            }
            OpCode::Continuation => {}
            OpCode::Text | OpCode::Binary if self.message.is_some() => {
                return Err(WsError::Protocol("new message before the fragmented one ended (RFC 6455 5.4)"));
            }
            OpCode::Text | OpCode::Binary => {
                self.message = Some(Partial { text: h.opcode == OpCode::Text, compressed: h.rsv1, utf8: Utf8Check::default() });
            }
        }
        let compressed = self.message.as_ref().is_some_and(|m| m.compressed);
        // A compressed message is checked as it inflates.
        if !h.opcode.is_control() && !compressed && self.data.len() as u64 + h.len > self.max_message.into() {
            return Err(WsError::TooBig("message larger than max_message (RFC 6455 10.4)"));
        }
        Ok(())
    }

    /// `bytes`: the payload of `h` from `offset` on, still masked.
    /// Returns how many were used: all, unless inflating ran out of `quota`.
    fn payload(&mut self, h: &FrameHeader, offset: u64, bytes: &[u8], quota: &mut usize) -> Result<usize, WsError> {
        if h.opcode.is_control() {
            let start = self.control.len();
            self.control.extend_from_slice(bytes);
            mask::apply(h.mask, offset, &mut self.control[start..]);
            return Ok(bytes.len());
        }
        let Some(m) = self.message.as_mut() else { return Ok(bytes.len()) };
        let text = m.text.then_some(&mut m.utf8);
        if m.compressed {
            let Some(i) = inflating(&mut self.inflating, &self.deflate) else { return Ok(bytes.len()) };
            i.scratch.clear();
            i.scratch.extend_from_slice(bytes);
            mask::apply(h.mask, offset, &mut i.scratch);
            let used = i.inflater.inflate(&i.scratch, &mut self.data, self.max_inflated as usize, quota, text);
            if i.scratch.capacity() > SCRATCH_KEPT {
                // A message held open keeps no read's worth of copies.
                i.scratch = Vec::new();
            }
            used
        } else {
            let start = self.data.len();
            // Doubling, as far as the bytes that came and never past the
            // limit (checked for this frame): a header alone reserves
            // nothing, and a message of many small fragments grows in a few
            // steps, not one copy per fragment.
            if self.data.capacity() - start < bytes.len() {
                self.data.reserve_exact(start.max(bytes.len()).min(self.max_message as usize - start));
            }
            self.data.extend_from_slice(bytes);
            mask::apply(h.mask, offset, &mut self.data[start..]);
            text.map_or(Ok(()), |check| check.feed(&self.data))?;
            Ok(bytes.len())
        }
    }

    /// A frame is complete: a control frame is a message of its own; the
    /// last frame of a data message completes it.
    fn end_frame(&mut self, h: &FrameHeader) -> Result<Option<Message>, WsError> {
        let message = match h.opcode {
            OpCode::Close => {
                self.closed = true;
                Message::Close(close::parse(&self.control)?)
            }
            OpCode::Ping => Message::Ping(std::mem::take(&mut self.control)),
            OpCode::Pong => Message::Pong(std::mem::take(&mut self.control)),
            _ if !h.fin => return Ok(None),
            _ => {
                let Some(mut m) = self.message.take() else { return Ok(None) };
                if m.compressed {
                    if let Some(i) = inflating(&mut self.inflating, &self.deflate) {
                        i.inflater.finish(&mut self.data, self.max_inflated as usize, m.text.then_some(&mut m.utf8))?;
                        i.scratch = Vec::new();
                    }
                    if self.deflate.is_some_and(|d| d.client_no_context_takeover) {
                        // Nothing carries over to the next message: free it.
                        self.inflating = None;
                    }
                }
                if m.text {
                    m.utf8.finish(&self.data)?;
                }
                let data = std::mem::take(&mut self.data);
                if m.text {
                    Message::Text(data)
                } else {
                    Message::Binary(data)
                }
            }
        };
        Ok(Some(message))
    }
}

/// The connection's inflater and its scratch, made on first use.
fn inflating<'a>(inflating: &'a mut Option<Box<Inflating>>, deflate: &Option<DeflateParams>) -> Option<&'a mut Inflating> {
    match (inflating, deflate) {
        (Some(i), _) => Some(i),
        (slot, Some(params)) => Some(slot.insert(Box::new(Inflating { inflater: Inflater::new(params), scratch: Vec::new() }))),
        (_, None) => None,
    }
}

#[cfg(test)]
mod tests;
