//! Request bodies written to a file by Rust (`{body_to_file, Id, Target, Opts}`):
//! the rest of the body goes from the socket straight into the page cache,
//! never crossing the pipe, and the BEAM hears
//! `{body_file, Id, #{path, bytes, sha256, trailers}}` once it is all there.
//! Reading is paced by the disk, not by a grant.
//!
//! A content-length body without a digest is spliced socket → pipe → file
//! (`splice_to_file`): the socket's pages go into the pipe and the kernel
//! copies them once, into the page cache. Read + write copied each byte
//! twice, once into the scratch buffer and once out of it. A chunked body
//! (its framing must be parsed) or one whose SHA-256 is asked for (its
//! bytes must be seen) goes through the scratch buffer and write(2).
//!
//! A file that is not reported to the BEAM is removed: on a write error, a
//! body over `max`, a client that goes away, a response that comes first.

use super::{BodyIn, Conn, Ctx, Timer};
use crate::config::LogLevel;
use crate::http::chunked::ChunkedError;
use crate::protocol::{self, BodyFileDone, ClosedReason, FileTarget, ToFileOpts};
use crate::splice::SplicePipe;
use sha2::{Digest, Sha256};
use std::ffi::OsStr;
use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::os::fd::AsRawFd;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

/// Names tried for a `tmp` file before giving up (each is 64 random bits:
/// a clash means something else is wrong).
const TMP_TRIES: usize = 4;
/// Most bytes one splice moves into the file: what the pipe holds.
const FILE_SPLICE_MAX: u64 = 1 << 20;
/// Below this, a read and a write cost less than two splices.
const FILE_SPLICE_MIN: u64 = 16 * 1024;

pub struct BodyFile {
    file: File,
    path: PathBuf,
    written: u64,
    max: Option<u64>,
    sha256: Option<Box<Sha256>>,
    /// Reported to the BEAM: the file is the handler's now.
    kept: bool,
    /// The pipe of `splice_to_file`, made at its first use (one per upload:
    /// whatever an error leaves in it goes with it).
    pipe: Option<SplicePipe>,
    /// splice(2) cannot be used with this socket or file: read + write.
    no_splice: bool,
}

impl Drop for BodyFile {
    fn drop(&mut self) {
        if !self.kept {
            let _ = std::fs::remove_file(&self.path);
        }
    }
}

impl Conn {
    /// `{body_to_file, Id, Target, Opts}`: instead of `read_body`.
    pub fn body_to_file(&mut self, ctx: &mut Ctx<'_>, id: u64, target: FileTarget<'_>, opts: ToFileOpts) -> bool {
        if !self.current(id) {
            return false;
        }
        let Some(ex) = self.ex.as_mut() else { return false };
        if ex.to_file.is_some() {
            self.invalid_response(ctx, "body_to_file twice");
            return true;
        }
        let known = ex.pending.len() as u64
            + match ex.body {
                BodyIn::Length(left) => left,
                _ => 0,
            };
        if opts.max.is_some_and(|max| known > max) {
            self.body_error(ctx, ChunkedError::TooLarge);
            return true;
        }
        let created = match target {
            FileTarget::Tmp => create_tmp(&ctx.cfg.upload_dir),
            FileTarget::Path(p) => create_at(Path::new(OsStr::from_bytes(p))),
        };
        let (file, path) = match created {
            Ok(f) => f,
            Err(why) => {
                self.body_file_failed(ctx, &why);
                return true;
            }
        };
        let sha256 = opts.sha256.then(|| Box::new(Sha256::new()));
        let Some(ex) = self.ex.as_mut() else { return false };
        ex.to_file = Some(Box::new(BodyFile { file, path, written: 0, max: opts.max, sha256, kept: false, pipe: None, no_splice: false }));
        // The grant was for bytes to the BEAM; from now on none go there.
        ex.grant = 0;
        let pending = std::mem::take(&mut ex.pending);
        let ended_before = ex.body_end_sent;
        self.release_continue();
        self.timer = super::Timer::Off;
        self.write_body_file(ctx, &pending);
        if ended_before {
            // The BEAM had the whole body already: the file gets nothing.
            self.end_body_file(ctx);
        } else {
            self.after_body_progress(ctx);
        }
        true
    }

    /// Body bytes decoded from the socket: into the file, at once.
    pub(super) fn write_body_file(&mut self, ctx: &mut Ctx<'_>, data: &[u8]) {
        let Some(bf) = self.ex.as_mut().and_then(|ex| ex.to_file.as_deref_mut()) else { return };
        if data.is_empty() {
            return;
        }
        let len = data.len() as u64;
        if bf.max.is_some_and(|max| bf.written + len > max) {
            self.body_error(ctx, ChunkedError::TooLarge);
            return;
        }
        if let Err(e) = (&bf.file).write_all(data) {
            let why = format!("writing {} failed after {} bytes: {e}", bf.path.display(), bf.written);
            self.body_file_failed(ctx, &why);
            return;
        }
        bf.written += len;
        if let Some(h) = bf.sha256.as_mut() {
            h.update(data);
        }
    }

    /// Moves content-length body bytes socket → pipe → file. None: not
    /// this way (chunked, a digest, bytes already read, splice refused),
    /// read as usual. Otherwise the result as a read's: Ok(0) end of file,
    /// Ok(n) body bytes taken from the socket (all in the file, or gone the
    /// read/write way after a failed splice into it).
    pub(super) fn splice_to_file(&mut self, ctx: &mut Ctx<'_>) -> Option<io::Result<usize>> {
        if self.lingering || !self.inbuf.is_empty() {
            return None;
        }
        // TLS bytes must pass through rustls.
        let sock = self.stream.plain_fd()?;
        let ex = self.ex.as_mut()?;
        let BodyIn::Length(left) = ex.body else { return None };
        let bf = ex.to_file.as_deref_mut()?;
        if bf.sha256.is_some() || bf.no_splice || !ex.pending.is_empty() {
            return None;
        }
        // `max` was checked against the whole length when the file was asked
        // for; this keeps it true should that ever change.
        let room = bf.max.map_or(u64::MAX, |max| max.saturating_sub(bf.written));
        let want = left.min(room).min(FILE_SPLICE_MAX);
        if want < FILE_SPLICE_MIN {
            return None;
        }
        if bf.pipe.is_none() {
            bf.pipe = SplicePipe::new();
        }
        let Some(pipe) = bf.pipe.as_mut() else {
            bf.no_splice = true;
            return None;
        };
        let n = match pipe.fill(sock, want as usize) {
            Ok(0) => return Some(Ok(0)),
            Ok(n) => n,
            Err(e) if unsupported(&e) => {
                bf.no_splice = true;
                bf.pipe = None;
                return None;
            }
            Err(e) => return Some(Err(e)),
        };
        ex.body = if n as u64 >= left { BodyIn::Done } else { BodyIn::Length(left - n as u64) };
        self.timer = Timer::Off;
        let mut moved = 0;
        let failed = loop {
            if moved == n {
                break None;
            }
            match pipe.drain_to(bf.file.as_raw_fd(), n - moved) {
                Ok(0) => break Some(io::Error::from(io::ErrorKind::WriteZero)),
                Ok(k) => moved += k,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => break Some(e),
            }
        };
        bf.written += moved as u64;
        let Some(e) = failed else { return Some(Ok(n)) };
        // The rest goes the read/write way, which also reports a file that
        // cannot take it (a full disk fails there again, with its reason).
        let mut rest = Vec::new();
        let read = pipe.read_into(&mut rest, n - moved);
        bf.no_splice |= unsupported(&e);
        bf.pipe = None;
        match read {
            Ok(()) => self.write_body_file(ctx, &rest),
            Err(re) => {
                let why = format!("splicing into {} failed ({e}), and reading the pipe back too: {re}", bf.path.display());
                self.body_file_failed(ctx, &why);
            }
        }
        Some(Ok(n))
    }

    /// The body has all been written: the file is closed and handed over.
    pub(super) fn end_body_file(&mut self, ctx: &mut Ctx<'_>) {
        let Some(ex) = self.ex.as_mut() else { return };
        let Some(mut bf) = ex.to_file.take() else { return };
        bf.kept = true;
        let path = std::mem::take(&mut bf.path);
        let (bytes, digest) = (bf.written, bf.sha256.take().map(|h| h.finalize()));
        drop(bf);
        let done = BodyFileDone { path: path.as_os_str().as_bytes(), bytes, sha256: digest.as_deref(), trailers: &ex.trailers };
        protocol::body_file(ctx.events, ex.id, &done);
        ex.body_end_sent = true;
        ex.trailers = Vec::new();
    }

    /// The file cannot be created or written: 500 (or a close, once a
    /// response began), `{closed, Id, file_error}`, a log line; dropping
    /// the exchange removes the file.
    fn body_file_failed(&mut self, ctx: &mut Ctx<'_>, why: &str) {
        let Some(ex) = self.ex.as_ref() else { return };
        ctx.log(LogLevel::Error, &format!("body_to_file for request {}: {why}", ex.id));
        protocol::closed(ctx.events, ex.id, ClosedReason::FileError);
        if matches!(ex.resp, super::Resp::Waiting) {
            self.answer_error(ctx, 500, "");
        } else {
            self.cut_response(ctx);
        }
    }
}

/// splice(2) refused this kind of descriptor (not an error of the file).
fn unsupported(e: &io::Error) -> bool {
    matches!(e.raw_os_error(), Some(libc::EINVAL | libc::ENOSYS | libc::EOPNOTSUPP))
}

/// Creates (or truncates) the file the BEAM named. Only a regular file:
/// anything else (a device, a FIFO) is refused before a byte is written.
fn create_at(path: &Path) -> Result<(File, PathBuf), String> {
    let file = OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .custom_flags(libc::O_NONBLOCK)
        .open(path)
        .map_err(|e| format!("cannot create {}: {e}", path.display()))?;
    match file.metadata() {
        Ok(m) if m.is_file() => Ok((file, path.to_path_buf())),
        Ok(_) => Err(format!("{} is not a regular file", path.display())),
        Err(e) => Err(format!("cannot stat {}: {e}", path.display())),
    }
}

/// A new file `ferry-upload-<random>` under `dir`, created with O_EXCL so
/// it is never someone else's, readable by this user only.
fn create_tmp(dir: &Path) -> Result<(File, PathBuf), String> {
    let mut last = None;
    for _ in 0..TMP_TRIES {
        let path = dir.join(format!("ferry-upload-{:016x}", random_u64()));
        match OpenOptions::new().write(true).create_new(true).mode(0o600).open(&path) {
            Ok(file) => return Ok((file, path)),
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => last = Some(e),
            Err(e) => return Err(format!("cannot create a file in upload_dir {}: {e}", dir.display())),
        }
    }
    Err(format!("cannot create a file in upload_dir {}: {last:?}", dir.display()))
}

/// 64 bits from the kernel's generator; the clock and pid if it fails
/// (O_EXCL still keeps the name from being reused).
fn random_u64() -> u64 {
    let mut b = [0u8; 8];
    // SAFETY: getrandom writes at most `b.len()` bytes into `b`.
    let n = unsafe { libc::getrandom(b.as_mut_ptr().cast(), b.len(), libc::GRND_NONBLOCK) };
    if n == b.len() as isize {
        return u64::from_ne_bytes(b);
    }
    let t = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_nanos() as u64);
    t ^ ((std::process::id() as u64) << 32)
}
