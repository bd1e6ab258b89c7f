//! The two pipes to the BEAM, made big enough for bulk bytes.
//!
//! A Linux pipe holds 64 KiB by default: a 1 MiB `stream_chunk` from the
//! BEAM then crosses in 16 writes, each waking this process, and a run of
//! `body` frames fills stdout after one frame. The BEAM cannot size the
//! pipes of an Erlang port, but a pipe's size belongs to the pipe, not to
//! one end, so Rust sizes both from its side at start-up.

/// Size asked for each pipe; capped by /proc/sys/fs/pipe-max-size.
const WANTED: usize = 1 << 20;

/// Raises the buffers of stdin and stdout to `WANTED` (or the most an
/// unprivileged process may ask). Anything that is not a pipe, or a refusal,
/// leaves the descriptor as it was.
pub fn enlarge_stdio() {
    let size = WANTED.min(pipe_max_size());
    for fd in [0, 1] {
        // SAFETY: fcntl on stdin/stdout, which stay open for the life of the
        // process; F_SETPIPE_SZ fails harmlessly on a non-pipe.
        unsafe {
            if libc::fcntl(fd, libc::F_GETPIPE_SZ) < size as libc::c_int {
                libc::fcntl(fd, libc::F_SETPIPE_SZ, size as libc::c_int);
            }
        }
    }
}

fn pipe_max_size() -> usize {
    std::fs::read_to_string("/proc/sys/fs/pipe-max-size")
        .ok()
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(WANTED)
}
