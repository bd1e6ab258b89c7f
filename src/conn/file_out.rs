//! File responses (`{send_file, Id, Status, Headers, {Path, Offset, Length}}`):
//! Rust opens the file, writes the head, then moves the bytes from the page
//! cache to the socket with sendfile(2), as the client reads. The bytes never
//! cross the pipe; the BEAM only decided.
//!
//! The file is the connection's pending output after `out`: the send
//! deadline, `is_idle`, pipelining and `{sent, …}` all wait for it as they
//! wait for queued bytes.

use super::{Conn, Ctx, Resp, Timer};
use crate::config::LogLevel;
use crate::etf::Term;
use crate::http::response::{self, BodyFraming, Kind};
use crate::protocol::{self, ClosedReason, FileRange};
use std::ffi::OsStr;
use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::os::fd::AsRawFd;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{FileExt, OpenOptionsExt};

/// Most file bytes one connection sends per turn of the event loop, so one
/// fast client of a big file does not starve the others (and stdin).
const FILE_BURST: u64 = 4 << 20;

/// A file being sent as the body of a finished response.
pub struct FileOut {
    file: File,
    /// Next byte of the file to send.
    pos: u64,
    /// Bytes still to send.
    left: u64,
    /// The request it answers, for `{closed, Id, file_error}`.
    id: u64,
    path: Box<[u8]>,
    /// sendfile(2) refused this file or socket: read + write instead.
    copy: bool,
}

/// How a burst of sending ended.
enum Burst {
    Done,
    /// The socket is full: wait for it to be writable.
    Blocked,
    /// `FILE_BURST` sent: come back next turn.
    Yield,
    /// The file ended before `left` did.
    Shrunk,
    PeerGone,
    FileFailed(io::Error),
}

impl Conn {
    /// `{send_file, Id, Status, Headers, {Path, Offset, Length}}`.
    pub fn send_file(&mut self, ctx: &mut Ctx<'_>, id: u64, status: u16, headers: &Term<'_>, range: FileRange<'_>) -> bool {
        if !self.current(id) {
            return false;
        }
        if !matches!(self.ex.as_ref().map(|ex| &ex.resp), Some(Resp::Waiting)) {
            self.invalid_response(ctx, "send_file after stream_start");
            return true;
        }
        let Some(info) = self.request_info(ctx) else { return false };
        let (Ok(body_len), Some(_)) = (usize::try_from(range.length), range.offset.checked_add(range.length)) else {
            self.invalid_response(ctx, "send_file: offset + length overflow");
            return true;
        };
        if status < 200 {
            self.invalid_response(ctx, &format!("send_file with informational status {status}"));
            return true;
        }
        // A response without a body does not need the file (HEAD still gets
        // the content-length the handler computed).
        let bodyless = info.is_head || status == 204 || status == 304;
        let file = if bodyless {
            None
        } else {
            match open_range(range) {
                Ok(f) => Some(f),
                Err(why) => {
                    let path = String::from_utf8_lossy(range.path);
                    ctx.log(LogLevel::Error, &format!("send_file {path}: {why}"));
                    protocol::closed(ctx.events, id, ClosedReason::FileError);
                    self.answer_error(ctx, 500, "");
                    return true;
                }
            }
        };
        let start = self.out.len();
        match response::write_head(&mut self.out, status, headers, info, Kind::Complete { body_len }, ctx.date) {
            Ok(plan) => {
                let head_len = (self.out.len() - start) as u64;
                let body = match plan.framing {
                    BodyFraming::Length(n) => n,
                    _ => 0,
                };
                if let (Some(file), true) = (file, body > 0) {
                    let path = range.path.into();
                    self.file = Some(Box::new(FileOut { file, pos: range.offset, left: body, id, path, copy: self.stream.plain_fd().is_none() }));
                }
                self.finish_response(ctx, status, head_len + body, plan.close);
            }
            Err(why) => self.invalid_response(ctx, &format!("send_file: {why}")),
        }
        true
    }

    /// Bytes of the file still to send.
    pub(super) fn file_pending(&self) -> u64 {
        self.file.as_ref().map_or(0, |f| f.left)
    }

    /// Sends the file once `out` is empty, until the socket is full, the
    /// burst is spent, or the file is all out.
    pub(super) fn write_file(&mut self, ctx: &mut Ctx<'_>, scratch: &mut [u8]) {
        let Conn { file, stream, .. } = self;
        let Some(f) = file.as_deref_mut() else { return };
        let mut budget = FILE_BURST;
        let mut sent = 0u64;
        let end = loop {
            if f.left == 0 {
                break Burst::Done;
            }
            if budget == 0 {
                break Burst::Yield;
            }
            let want = f.left.min(budget);
            let r = if f.copy { copy_some(&f.file, f.pos, want, stream, scratch) } else { sendfile_some(stream.tcp().as_raw_fd(), &f.file, f.pos, want) };
            match r {
                Ok(0) => break Burst::Shrunk,
                Ok(n) => {
                    let n = n as u64;
                    f.pos += n;
                    f.left -= n;
                    budget = budget.saturating_sub(n);
                    sent += n;
                }
                Err(e) => match e.raw_os_error() {
                    _ if e.kind() == io::ErrorKind::WouldBlock => break Burst::Blocked,
                    _ if e.kind() == io::ErrorKind::Interrupted => {}
                    Some(libc::EINVAL | libc::ENOSYS | libc::EOPNOTSUPP) if !f.copy => f.copy = true,
                    Some(libc::EPIPE | libc::ECONNRESET | libc::ENOTCONN | libc::ESHUTDOWN) => break Burst::PeerGone,
                    _ if e.kind() == io::ErrorKind::WriteZero => break Burst::PeerGone,
                    _ => break Burst::FileFailed(e),
                },
            }
        };
        ctx.stats.bytes_out += sent;
        if sent > 0 && self.timer == Timer::Send {
            self.timer = Timer::Off;
        }
        match end {
            Burst::Done => self.file = None,
            Burst::Blocked => {}
            Burst::Yield => ctx.again.push(ctx.slot),
            Burst::PeerGone => self.peer_gone(ctx),
            Burst::Shrunk => self.file_failed(ctx, "the file is shorter than announced (it shrank while sent)"),
            Burst::FileFailed(e) => self.file_failed(ctx, &format!("reading it failed: {e}")),
        }
    }

    /// The rest of the file cannot be sent: the client gets a short body
    /// (its content-length tells it) and the connection closes at once.
    fn file_failed(&mut self, ctx: &mut Ctx<'_>, why: &str) {
        let Some(f) = self.file.take() else { return };
        let path = String::from_utf8_lossy(&f.path);
        ctx.log(LogLevel::Error, &format!("send_file {path}: {why}; {} bytes unsent, connection closed", f.left));
        protocol::closed(ctx.events, f.id, ClosedReason::FileError);
        self.dead = true;
    }
}

/// Opens the file of a `send_file` and checks it holds `offset + length`
/// bytes. `O_NONBLOCK` keeps a FIFO from blocking the event loop in open.
fn open_range(range: FileRange<'_>) -> Result<File, String> {
    let path = OsStr::from_bytes(range.path);
    let file = OpenOptions::new().read(true).custom_flags(libc::O_NONBLOCK).open(path).map_err(|e| format!("cannot open: {e}"))?;
    let meta = file.metadata().map_err(|e| format!("cannot stat: {e}"))?;
    if !meta.is_file() {
        return Err("not a regular file".into());
    }
    let end = range.offset.saturating_add(range.length);
    if meta.len() < end {
        return Err(format!("{} bytes long, shorter than offset {} + length {}", meta.len(), range.offset, range.length));
    }
    Ok(file)
}

/// One sendfile(2) of up to `want` bytes from `pos`. Ok(0): the file ends at `pos`.
fn sendfile_some(sock: i32, file: &File, pos: u64, want: u64) -> io::Result<usize> {
    let mut off = libc::off_t::try_from(pos).map_err(|_| io::Error::from_raw_os_error(libc::EOVERFLOW))?;
    // The kernel moves at most 0x7ffff000 bytes per call anyway.
    let count = want.min(0x7fff_f000) as usize;
    // SAFETY: both descriptors are open for the duration of the call; `off`
    // is a valid off_t the kernel updates.
    let n = unsafe { libc::sendfile(sock, file.as_raw_fd(), &mut off, count) };
    if n < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(n as usize)
}

/// The read + write path, for where sendfile(2) cannot go (a file system
/// without it; TLS, whose bytes must pass through user space). Reads one
/// scratch buffer's worth at `pos` and writes what the socket takes; what
/// it does not take is read again next time (from the page cache).
pub fn copy_some(file: &File, pos: u64, want: u64, sock: &mut impl Write, scratch: &mut [u8]) -> io::Result<usize> {
    let len = (want as usize).min(scratch.len());
    let n = loop {
        match file.read_at(&mut scratch[..len], pos) {
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            r => break r?,
        }
    };
    if n == 0 {
        return Ok(0);
    }
    match sock.write(&scratch[..n]) {
        Ok(0) => Err(io::ErrorKind::WriteZero.into()),
        r => r,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A socket that takes at most `take` bytes per write, then blocks.
    struct Socket {
        got: Vec<u8>,
        take: usize,
        blocked: bool,
    }

    impl Write for Socket {
        fn write(&mut self, b: &[u8]) -> io::Result<usize> {
            if self.blocked {
                return Err(io::ErrorKind::WouldBlock.into());
            }
            let n = b.len().min(self.take);
            self.got.extend_from_slice(&b[..n]);
            Ok(n)
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn the_copy_path_resumes_after_partial_writes_and_sees_the_end() {
        let path = std::env::temp_dir().join(format!("ferry-copy-some-{}", std::process::id()));
        let data: Vec<u8> = (0..10_000u32).map(|i| (i % 251) as u8).collect();
        std::fs::write(&path, &data).unwrap();
        let file = File::open(&path).unwrap();
        let _ = std::fs::remove_file(&path);
        let mut sock = Socket { got: Vec::new(), take: 777, blocked: false };
        let mut scratch = [0u8; 1024];
        let (mut pos, mut left) = (100u64, 9_000u64);
        while left > 0 {
            let n = copy_some(&file, pos, left, &mut sock, &mut scratch).unwrap() as u64;
            assert!(n > 0 && n <= 777);
            pos += n;
            left -= n;
        }
        assert_eq!(sock.got, &data[100..9_100]);
        // Past the end of the file: 0, as sendfile(2) says it.
        assert_eq!(copy_some(&file, 10_000, 5, &mut sock, &mut scratch).unwrap(), 0);
        sock.blocked = true;
        let e = copy_some(&file, 0, 5, &mut sock, &mut scratch).unwrap_err();
        assert_eq!(e.raw_os_error(), None);
        assert_eq!(e.kind(), io::ErrorKind::WouldBlock);
    }
}
