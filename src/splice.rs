//! Request body bytes from a client's socket to the BEAM's pipe without
//! passing through this process: splice(2) moves them into a pipe of our
//! own (the kernel hands the socket's pages over), then on into stdout
//! behind the frame's head. Read + write would copy each byte twice; in a
//! profile of an upload those two copies were over half the port's CPU.
//!
//! Only whole frames go this way: the bytes are taken from the socket
//! first, so the frame's length is known before its head is written, and
//! whatever stdout does not take is read back into the queue at once, so
//! the frames after it keep their order.

use std::fs::File;
use std::io::{self, Read};
use std::os::fd::{AsRawFd, FromRawFd, RawFd};

/// Size of our own pipe: the largest body frame fits.
const PIPE_BYTES: i32 = 1 << 20;

pub struct SplicePipe {
    read: File,
    write: File,
}

impl SplicePipe {
    /// A non-blocking pipe, or None where the kernel will not make one.
    pub fn new() -> Option<SplicePipe> {
        let mut fds = [0; 2];
        // SAFETY: pipe2 writes two descriptors into `fds`, which we own from here.
        if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_NONBLOCK | libc::O_CLOEXEC) } != 0 {
            return None;
        }
        // SAFETY: both descriptors were just created and are owned by nothing else.
        let (read, write) = unsafe { (File::from_raw_fd(fds[0]), File::from_raw_fd(fds[1])) };
        // SAFETY: fcntl on a pipe we own; a refusal leaves the default size,
        // and `fill` takes no more than the pipe holds.
        unsafe { libc::fcntl(write.as_raw_fd(), libc::F_SETPIPE_SZ, PIPE_BYTES) };
        Some(SplicePipe { read, write })
    }

    /// Moves what `src` has, at most `max` bytes, into the pipe. Ok(0) is
    /// end of file; WouldBlock, nothing to read.
    pub fn fill(&mut self, src: RawFd, max: usize) -> io::Result<usize> {
        splice(src, self.write.as_raw_fd(), max)
    }

    /// Moves up to `n` bytes on to `dst`; returns how many went.
    pub fn drain_to(&mut self, dst: RawFd, n: usize) -> io::Result<usize> {
        splice(self.read.as_raw_fd(), dst, n)
    }

    /// Reads exactly `n` bytes out of the pipe (they are there) into `out`.
    pub fn read_into(&mut self, out: &mut Vec<u8>, n: usize) -> io::Result<()> {
        let at = out.len();
        out.resize(at + n, 0);
        let mut got = 0;
        while got < n {
            match self.read.read(&mut out[at + got..]) {
                Ok(0) => return Err(io::ErrorKind::UnexpectedEof.into()),
                Ok(k) => got += k,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }
}

fn splice(from: RawFd, to: RawFd, n: usize) -> io::Result<usize> {
    loop {
        // SAFETY: both descriptors are open; null offsets mean "current
        // position", as splice(2) requires for pipes and sockets.
        let r = unsafe {
            libc::splice(from, std::ptr::null_mut(), to, std::ptr::null_mut(), n, libc::SPLICE_F_MOVE | libc::SPLICE_F_NONBLOCK)
        };
        if r >= 0 {
            return Ok(r as usize);
        }
        let e = io::Error::last_os_error();
        if e.kind() != io::ErrorKind::Interrupted {
            return Err(e);
        }
    }
}
