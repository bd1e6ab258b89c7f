//! `{packet, 4}` framing on both pipes.
//!
//! `FrameReader` collects bytes from stdin, hands out every whole frame in
//! its buffer, and keeps a partial frame for the next read. A length over
//! `max_frame` is refused before anything is allocated for it.
//! `Outbox` is the queue of frames for stdout: frames are encoded straight
//! into it and written as the pipe accepts them, never blocking.

use crate::splice::SplicePipe;
use std::io::{self, Read, Write};
use std::os::fd::RawFd;

/// Where `splice_frame` writes: the pipe to the BEAM.
const STDOUT_FD: RawFd = 1;

/// Bytes asked of stdin per read: large, so a burst of commands costs one
/// syscall.
const READ_CHUNK: usize = 64 * 1024;

#[derive(Debug, PartialEq, Eq)]
pub enum FrameError {
    /// A frame header announced `len` bytes, more than `max` allows.
    TooLong { len: usize, max: usize },
}

pub struct FrameReader {
    /// Always initialised to its full length; bytes `start..end` are data.
    buf: Vec<u8>,
    /// Start of the first byte not yet handed out.
    start: usize,
    /// End of the bytes read.
    end: usize,
    max_frame: usize,
    /// Bytes arrived since the last `shrink_if_idle`.
    used: bool,
}

pub enum Fill {
    /// Some bytes were read (or none were ready).
    Progress,
    /// stdin is at end of file.
    Eof,
}

impl FrameReader {
    pub fn new(max_frame: usize) -> Self {
        FrameReader { buf: Vec::new(), start: 0, end: 0, max_frame, used: false }
    }

    pub fn set_max_frame(&mut self, max_frame: usize) {
        self.max_frame = max_frame;
    }

    /// Reads from `src` until it would block or reaches end of file.
    pub fn fill(&mut self, src: &mut impl Read) -> io::Result<Fill> {
        loop {
            self.compact();
            // Room for the rest of the current frame (its length was checked
            // by `next_frame`) and at least one read chunk.
            let frame_end = self.pending_frame_len().map_or(0, |n| self.start + n);
            let need = frame_end.max(self.end + READ_CHUNK);
            if self.buf.len() < need {
                self.buf.resize(need, 0);
            }
            let room = self.buf.len() - self.end;
            match src.read(&mut self.buf[self.end..]) {
                Ok(0) => return Ok(Fill::Eof),
                Ok(n) => {
                    self.end += n;
                    self.used = true;
                    if n < room {
                        return Ok(Fill::Progress);
                    }
                }
                Err(e) => {
                    return match e.kind() {
                        io::ErrorKind::WouldBlock => Ok(Fill::Progress),
                        io::ErrorKind::Interrupted => continue,
                        _ => Err(e),
                    };
                }
            }
        }
    }

    /// Feeds bytes directly (tests).
    #[cfg(test)]
    pub fn push(&mut self, bytes: &[u8]) {
        self.compact();
        self.buf.truncate(self.end);
        self.buf.extend_from_slice(bytes);
        self.end = self.buf.len();
    }

    /// The length the next frame's header announces, once its 4 bytes are in.
    fn announced_len(&self) -> Option<usize> {
        let head = self.buf[..self.end].get(self.start..self.start + 4)?;
        Some(u32::from_be_bytes([head[0], head[1], head[2], head[3]]) as usize)
    }

    fn pending_frame_len(&self) -> Option<usize> {
        self.announced_len().filter(|&len| len <= self.max_frame).map(|len| 4 + len)
    }

    /// A whole frame (or a length over `max_frame`, which `next_frame`
    /// reports) is in the buffer.
    pub fn has_frame(&self) -> bool {
        self.announced_len().is_some_and(|len| len > self.max_frame || self.end - self.start - 4 >= len)
    }

    /// The next whole frame's payload, `Ok(None)` when it has not all arrived.
    pub fn next_frame(&mut self) -> Result<Option<&[u8]>, FrameError> {
        let Some(len) = self.announced_len() else {
            return Ok(None);
        };
        if len > self.max_frame {
            return Err(FrameError::TooLong { len, max: self.max_frame });
        }
        let body = self.start + 4;
        if self.end - body < len {
            return Ok(None);
        }
        self.start = body + len;
        Ok(Some(&self.buf[body..body + len]))
    }

    /// Moves a partial frame to the front.
    fn compact(&mut self) {
        if self.start == 0 {
            return;
        }
        self.buf.copy_within(self.start..self.end, 0);
        self.end -= self.start;
        self.start = 0;
    }

    /// Returns the memory of a buffer grown for big frames, once nothing
    /// arrived for a whole sweep (a stream of big frames, even with gaps
    /// between reads, keeps reusing one buffer: shrinking it between two
    /// frames cost a re-allocation, zero-filled, every 100 ms).
    pub fn shrink_if_idle(&mut self) {
        if std::mem::take(&mut self.used) {
            return;
        }
        if self.buf.len() > 4 * READ_CHUNK && self.end - self.start < READ_CHUNK {
            self.compact();
            self.buf.truncate(READ_CHUNK.max(self.end));
            self.buf.shrink_to_fit();
        }
    }
}

/// A frame whose payload does not start with the version byte 131 is a
/// *batch*: its payload is itself a sequence of frames (4-byte length, one
/// term each), so the BEAM can hand over many commands in one write.
pub fn is_batch(payload: &[u8]) -> bool {
    payload.first().is_some_and(|&b| b != crate::etf::VERSION)
}

/// The frames inside a batch payload; an `Err` ends it (a length past the end).
pub struct Batch<'a>(pub &'a [u8]);

impl<'a> Iterator for Batch<'a> {
    type Item = Result<&'a [u8], ()>;
    fn next(&mut self) -> Option<Self::Item> {
        if self.0.is_empty() {
            return None;
        }
        let frame = self.0.get(..4).and_then(|head| {
            let len = u32::from_be_bytes([head[0], head[1], head[2], head[3]]) as usize;
            self.0.get(4..4usize.checked_add(len)?)
        });
        match frame {
            Some(f) => {
                self.0 = &self.0[4 + f.len()..];
                Some(Ok(f))
            }
            None => {
                self.0 = &[];
                Some(Err(()))
            }
        }
    }
}

/// Frames queued for stdout.
pub struct Outbox {
    buf: Vec<u8>,
    /// Bytes of `buf` already written.
    written: usize,
    /// Where the length of the frame being encoded goes.
    frame_start: Option<usize>,
    /// False after a write would have blocked, until the pipe is writable.
    pub writable: bool,
    /// Frames queued since the last `shrink_if_idle`.
    used: bool,
    /// Set when stdout is a pipe that splice(2) can feed.
    pub splice: Option<SplicePipe>,
}

impl Default for Outbox {
    fn default() -> Self {
        Outbox { buf: Vec::with_capacity(READ_CHUNK), written: 0, frame_start: None, writable: true, used: false, splice: None }
    }
}

impl Outbox {
    /// Starts a frame: returns the buffer to encode the term into (the
    /// version byte is already there). Close it with `end_frame`.
    pub fn begin_frame(&mut self) -> &mut Vec<u8> {
        debug_assert!(self.frame_start.is_none());
        self.frame_start = Some(self.buf.len());
        self.used = true;
        self.buf.extend_from_slice(&[0, 0, 0, 0, crate::etf::VERSION]);
        &mut self.buf
    }

    pub fn end_frame(&mut self) {
        if let Some(start) = self.frame_start.take() {
            let len = (self.buf.len() - start - 4) as u32;
            self.buf[start..start + 4].copy_from_slice(&len.to_be_bytes());
        }
    }

    /// A frame can go to stdout at once, spliced: nothing is queued before
    /// it and the pipe was writable.
    pub fn can_splice(&self) -> bool {
        self.splice.is_some() && self.queued() == 0 && self.writable && self.frame_start.is_none()
    }

    /// Writes one frame whose payload ends with bytes taken from `src` (at
    /// most `max`, what it has now) without copying them through this
    /// process: they are spliced into our pipe, then `head(buf, n)` encodes
    /// the term before those `n` bytes, the head is written and the bytes
    /// spliced on behind it. What stdout does not take is read back into
    /// the queue at once, so later frames stay behind it. Returns `n`;
    /// Ok(0) is end of file on `src`, WouldBlock means it has nothing, and
    /// Unsupported that splicing is off (the caller reads instead).
    /// Only when `can_splice`.
    pub fn splice_frame(&mut self, src: RawFd, max: usize, head: impl FnOnce(&mut Vec<u8>, usize)) -> io::Result<usize> {
        let Some(pipe) = self.splice.as_mut() else { return Err(io::ErrorKind::Unsupported.into()) };
        let n = match pipe.fill(src, max) {
            Ok(n) => n,
            Err(e) if matches!(e.raw_os_error(), Some(libc::EINVAL | libc::ENOSYS | libc::EOPNOTSUPP)) => {
                self.splice = None;
                return Err(io::ErrorKind::Unsupported.into());
            }
            Err(e) => return Err(e),
        };
        if n == 0 {
            return Ok(0);
        }
        self.used = true;
        self.buf.clear();
        self.buf.extend_from_slice(&[0, 0, 0, 0, crate::etf::VERSION]);
        head(&mut self.buf, n);
        let len = (self.buf.len() - 4 + n) as u32;
        self.buf[..4].copy_from_slice(&len.to_be_bytes());
        let head_len = self.buf.len();
        self.written = write_some(STDOUT_FD, &self.buf);
        let sent = if self.written == head_len { pipe.drain_to(STDOUT_FD, n).unwrap_or(0) } else { 0 };
        if sent < n {
            // stdout is full, or failing. `writable` is left to the next
            // flush: only its WouldBlock says the pipe is full, and so that
            // the BEAM's next read will wake us.
            if let Err(e) = pipe.read_into(&mut self.buf, n - sent) {
                crate::exit::fatal(crate::exit::EXIT_STDOUT, &format!("a body frame was cut in our splice pipe: {e}"));
            }
        }
        if self.written == self.buf.len() {
            self.buf.clear();
            self.written = 0;
        }
        Ok(n)
    }

    /// Bytes queued and not yet written.
    pub fn queued(&self) -> usize {
        self.buf.len() - self.written
    }

    /// Writes as much as `dst` takes without blocking.
    pub fn flush(&mut self, dst: &mut impl Write) -> io::Result<()> {
        while self.written < self.buf.len() {
            match dst.write(&self.buf[self.written..]) {
                Ok(0) => return Err(io::Error::new(io::ErrorKind::WriteZero, "stdout closed")),
                Ok(n) => self.written += n,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    self.writable = false;
                    break;
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        if self.written == self.buf.len() {
            self.buf.clear();
            self.written = 0;
        } else if self.written > READ_CHUNK && self.written * 2 > self.buf.len() {
            self.buf.drain(..self.written);
            self.written = 0;
        }
        Ok(())
    }

    /// Returns the memory of a queue grown by a burst, once it is empty
    /// and no frame came for a whole sweep. Not per flush: an upload's
    /// `body` frames keep reusing one buffer instead of mapping and
    /// unmapping it (page faults were a fifth of the port's CPU in an upload).
    pub fn shrink_if_idle(&mut self) {
        if std::mem::take(&mut self.used) {
            return;
        }
        if self.queued() == 0 && self.buf.capacity() > 16 * READ_CHUNK {
            self.buf = Vec::with_capacity(READ_CHUNK);
            self.written = 0;
        }
    }

    /// Writes everything, blocking if it must (only used on the way out).
    pub fn flush_all(&mut self, dst: &mut impl Write) -> io::Result<()> {
        dst.write_all(&self.buf[self.written..])?;
        self.buf.clear();
        self.written = 0;
        dst.flush()
    }
}

/// What one non-blocking write(2) to `fd` took of `bytes` (0 when it
/// would block or failed: the bytes stay queued and the next flush meets
/// the error).
fn write_some(fd: RawFd, bytes: &[u8]) -> usize {
    loop {
        // SAFETY: `bytes` is a valid buffer of its length; fd stays open.
        let r = unsafe { libc::write(fd, bytes.as_ptr().cast(), bytes.len()) };
        if r >= 0 {
            return r as usize;
        }
        if io::Error::last_os_error().kind() != io::ErrorKind::Interrupted {
            return 0;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn framed(payloads: &[&[u8]]) -> Vec<u8> {
        let mut v = Vec::new();
        for p in payloads {
            v.extend_from_slice(&(p.len() as u32).to_be_bytes());
            v.extend_from_slice(p);
        }
        v
    }

    fn drain(r: &mut FrameReader) -> Vec<Vec<u8>> {
        let mut got = Vec::new();
        while let Some(f) = r.next_frame().unwrap() {
            got.push(f.to_vec());
        }
        got
    }

    #[test]
    fn frames_split_at_every_byte() {
        let payloads: [&[u8]; 3] = [b"hello", b"", b"world!"];
        let stream = framed(&payloads);
        for split in 0..=stream.len() {
            let mut r = FrameReader::new(100);
            r.push(&stream[..split]);
            let mut got = drain(&mut r);
            r.push(&stream[split..]);
            got.extend(drain(&mut r));
            assert_eq!(got, payloads.iter().map(|p| p.to_vec()).collect::<Vec<_>>(), "split {split}");
        }
    }

    /// `has_frame` says what `next_frame` would give, at every cut.
    #[test]
    fn has_frame_at_every_cut() {
        let stream = framed(&[b"hello", b"", b"world!"]);
        for split in 0..=stream.len() {
            let mut r = FrameReader::new(100);
            r.push(&stream[..split]);
            while r.has_frame() {
                assert!(matches!(r.next_frame(), Ok(Some(_))), "split {split}");
            }
            assert!(matches!(r.next_frame(), Ok(None)), "split {split}");
        }
        // A length over max_frame is there to be refused.
        let mut r = FrameReader::new(4);
        r.push(&[0, 0, 0, 5]);
        assert!(r.has_frame());
        assert!(r.next_frame().is_err());
    }

    #[test]
    fn frames_one_byte_at_a_time_through_fill() {
        struct Trickle(Vec<u8>, usize);
        impl Read for Trickle {
            fn read(&mut self, b: &mut [u8]) -> io::Result<usize> {
                if self.1 == self.0.len() {
                    return Ok(0);
                }
                b[0] = self.0[self.1];
                self.1 += 1;
                Ok(1)
            }
        }
        let payloads: [&[u8]; 2] = [b"abc", b"defgh"];
        let mut src = Trickle(framed(&payloads), 0);
        let mut r = FrameReader::new(100);
        let mut got = Vec::new();
        loop {
            let eof = matches!(r.fill(&mut src).unwrap(), Fill::Eof);
            got.extend(drain(&mut r));
            if eof {
                break;
            }
        }
        assert_eq!(got, vec![b"abc".to_vec(), b"defgh".to_vec()]);
    }

    #[test]
    fn oversize_length_is_refused_before_allocating() {
        let mut r = FrameReader::new(10);
        r.push(&[0xff, 0xff, 0xff, 0xff, 1]);
        assert_eq!(r.next_frame(), Err(FrameError::TooLong { len: u32::MAX as usize, max: 10 }));
        assert!(r.buf.capacity() < 1024);
        let mut ok = FrameReader::new(10);
        ok.push(&framed(&[&[7; 10]]));
        assert_eq!(ok.next_frame().unwrap(), Some(&[7u8; 10][..]));
        let mut over = FrameReader::new(10);
        over.push(&framed(&[&[7; 11]]));
        assert!(over.next_frame().is_err());
    }

    #[test]
    fn batches_split_into_frames_and_stop_at_a_bad_length() {
        let payloads: [&[u8]; 3] = [&[131, 106], &[131, 97, 1], &[]];
        let batch = framed(&payloads);
        assert!(is_batch(&batch));
        assert!(!is_batch(&[131, 106]));
        assert!(!is_batch(&[]));
        let got: Vec<_> = Batch(&batch).collect();
        assert_eq!(got, vec![Ok(payloads[0]), Ok(payloads[1]), Ok(payloads[2])]);
        let mut cut = batch.clone();
        cut.truncate(batch.len() - 6);
        let got: Vec<_> = Batch(&cut).collect();
        assert_eq!(got, vec![Ok(payloads[0]), Err(())]);
        assert_eq!(Batch(&[0xff, 0xff, 0xff, 0xff, 1]).collect::<Vec<_>>(), vec![Err(())]);
    }

    #[test]
    fn buffers_shrink_only_after_a_sweep_without_traffic() {
        let big = vec![7u8; 1 << 20];
        let mut r = FrameReader::new(2 << 20);
        let mut src = &framed(&[&big])[..];
        let _ = r.fill(&mut src).unwrap();
        assert_eq!(r.next_frame().unwrap().map(|f| f.len()), Some(1 << 20));
        r.shrink_if_idle();
        assert!(r.buf.len() > 4 * READ_CHUNK, "shrunk right after a frame");
        r.shrink_if_idle();
        assert!(r.buf.len() <= READ_CHUNK);

        let mut o = Outbox::default();
        o.begin_frame().extend_from_slice(&big);
        o.end_frame();
        o.flush(&mut Vec::new()).unwrap();
        o.shrink_if_idle();
        assert!(o.buf.capacity() > 16 * READ_CHUNK, "shrunk right after a frame");
        o.shrink_if_idle();
        assert!(o.buf.capacity() <= READ_CHUNK);
    }

    #[test]
    fn outbox_patches_lengths_and_flushes_partially() {
        let mut o = Outbox::default();
        o.begin_frame().extend_from_slice(b"xy");
        o.end_frame();
        o.begin_frame();
        o.end_frame();
        struct Small(Vec<u8>);
        impl Write for Small {
            fn write(&mut self, b: &[u8]) -> io::Result<usize> {
                if self.0.len() >= 6 {
                    return Err(io::ErrorKind::WouldBlock.into());
                }
                let n = b.len().min(3);
                self.0.extend_from_slice(&b[..n]);
                Ok(n)
            }
            fn flush(&mut self) -> io::Result<()> {
                Ok(())
            }
        }
        let mut w = Small(Vec::new());
        o.flush(&mut w).unwrap();
        assert!(!o.writable);
        assert_eq!(o.queued(), 12 - 6);
        w.0.clear();
        o.flush(&mut Vec::new()).unwrap();
        assert_eq!(o.queued(), 0);
        let mut all = Vec::new();
        o.begin_frame().push(106);
        o.end_frame();
        o.flush(&mut all).unwrap();
        assert_eq!(all, vec![0, 0, 0, 2, 131, 106]);
    }
}
