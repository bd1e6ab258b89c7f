//! Request bodies written to a file by Rust (`{body_to_file, Id, Target, Opts}`):
//! the rest of the body goes from the socket (through the shared scratch
//! buffer) straight into the page cache with write(2), never crossing the
//! pipe, and the BEAM hears `{body_file, Id, #{path, bytes, sha256, trailers}}`
//! once it is all there. Reading is paced by the disk, not by a grant.
//!
//! A file that is not reported to the BEAM is removed: on a write error, a
//! body over `max`, a client that goes away, a response that comes first.

use super::{BodyIn, Conn, Ctx};
use crate::config::LogLevel;
use crate::http::chunked::ChunkedError;
use crate::protocol::{self, BodyFileDone, ClosedReason, FileTarget, ToFileOpts};
use sha2::{Digest, Sha256};
use std::ffi::OsStr;
use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

/// Names tried for a `tmp` file before giving up (each is 64 random bits:
/// a clash means something else is wrong).
const TMP_TRIES: usize = 4;

pub struct BodyFile {
    file: File,
    path: PathBuf,
    written: u64,
    max: Option<u64>,
    sha256: Option<Box<Sha256>>,
    /// Reported to the BEAM: the file is the handler's now.
    kept: bool,
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
        ex.to_file = Some(Box::new(BodyFile { file, path, written: 0, max: opts.max, sha256, kept: false }));
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
