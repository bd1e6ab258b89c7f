//! A streamed request body's bytes straight from the socket into the pipe
//! to the BEAM (`Outbox::splice_frame`, src/splice.rs): the `body` frame is
//! the same, its bytes are never copied into this process. Used when
//! nothing else is in the way: a content-length body with a grant, no
//! bytes of it held here, and nothing queued for stdout.

use super::reading::BODY_FRAME_COST;
use super::{BodyIn, Conn, Ctx, Timer};
use crate::protocol;
use std::io;

/// Below this, one read and one queued frame cost less than three syscalls.
const SPLICE_MIN: usize = 16 * 1024;
/// Largest spliced `body` frame: what our pipe and the BEAM's hold. Not
/// `MAX_BODY_CHUNK` (a read's worth): these bytes are never in a buffer
/// of ours, and a `read_body` of 1 MiB (the default `length`) answered
/// by one frame is that frame's binary, with no join on the BEAM's side.
const SPLICE_MAX: u64 = 1 << 20;

impl Conn {
    /// Moves up to what the grant allows (at most `SPLICE_MAX`) as one
    /// `body` frame by splice. None: not this way, read as usual. Otherwise
    /// the result as a read's: Ok(0) end of file, Ok(n) bytes sent.
    pub(super) fn splice_body(&mut self, ctx: &mut Ctx<'_>) -> Option<io::Result<usize>> {
        if self.lingering || !self.inbuf.is_empty() || !ctx.events.can_splice() {
            return None;
        }
        // TLS bytes must pass through rustls.
        let fd = self.stream.plain_fd()?;
        let ex = self.ex.as_mut()?;
        let BodyIn::Length(left) = ex.body else { return None };
        if !ex.dispatched || ex.to_file.is_some() || !ex.pending.is_empty() || ex.grant == 0 {
            return None;
        }
        let limit = left.min(ex.body_room()).min(SPLICE_MAX) as usize;
        if limit < SPLICE_MIN {
            return None;
        }
        let id = ex.id;
        let r = ctx.events.splice_frame(fd, limit, |b, n| protocol::body_head(b, id, n));
        match r {
            Ok(n) if n > 0 => {
                let n = n as u64;
                ex.grant = ex.grant.saturating_sub(n + BODY_FRAME_COST);
                ex.body = if n >= left { BodyIn::Done } else { BodyIn::Length(left - n) };
                self.timer = Timer::Off;
            }
            Err(e) if e.kind() == io::ErrorKind::Unsupported => return None,
            _ => {}
        }
        Some(r)
    }
}
