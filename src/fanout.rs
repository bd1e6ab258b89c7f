//! One frame written to many sockets at once (`ws_publish`, `ws_send` to
//! a list). Each write is the kernel's TCP work for one subscriber, about
//! 5 µs (on loopback also the receiving side's), and nothing else of the
//! event loop waits on it: a large group is split over threads, one per
//! CPU, as the BEAM's schedulers split a `pg` broadcast. Only sockets with
//! nothing queued are written here; what a socket does not take is queued
//! by the caller as usual.

use mio::net::TcpStream;
use std::io::{ErrorKind, Write};
use std::sync::OnceLock;
use std::thread;

/// Below this many sockets the loop's thread writes them all: starting a
/// thread costs tens of µs, a dozen writes.
const PARALLEL_MIN: usize = 256;
/// Threads at most, the loop's own included.
const THREADS_MAX: usize = 4;

/// Writes `bytes` to each socket that is `Some`, never blocking. Returns
/// the bytes each took: 0 for `None`, a full socket or an error (the
/// caller's output path meets the error again and handles it).
pub fn write_each(socks: &[Option<&TcpStream>], bytes: &[u8]) -> Vec<usize> {
    let mut written = vec![0; socks.len()];
    let targets = socks.iter().filter(|s| s.is_some()).count();
    let cpus = if targets < PARALLEL_MIN { 1 } else { cpus() };
    if cpus < 2 {
        write_part(socks, bytes, &mut written);
        return written;
    }
    let per_thread = socks.len().div_ceil(cpus);
    thread::scope(|scope| {
        let mut parts = socks.chunks(per_thread).zip(written.chunks_mut(per_thread));
        let Some((own, own_written)) = parts.next() else { return };
        let mut others = Vec::new();
        for (part, part_written) in parts {
            let spawned = thread::Builder::new().spawn_scoped(scope, move || {
                let mut w = vec![0; part.len()];
                write_part(part, bytes, &mut w);
                w
            });
            match spawned {
                Ok(handle) => others.push((handle, part_written)),
                // No thread to be had: this one writes that part too.
                Err(_) => write_part(part, bytes, part_written),
            }
        }
        write_part(own, bytes, own_written);
        for (handle, part_written) in others {
            if let Ok(w) = handle.join() {
                part_written.copy_from_slice(&w);
            }
        }
    });
    written
}

/// The CPUs this process may use (asked once: it reads cgroup files).
fn cpus() -> usize {
    static CPUS: OnceLock<usize> = OnceLock::new();
    *CPUS.get_or_init(|| thread::available_parallelism().map_or(1, |n| n.get()).min(THREADS_MAX))
}

fn write_part(socks: &[Option<&TcpStream>], bytes: &[u8], written: &mut [usize]) {
    for (sock, n) in socks.iter().zip(written.iter_mut()) {
        let Some(mut sock) = *sock else { continue };
        loop {
            match sock.write(bytes) {
                Ok(w) => *n = w,
                Err(e) if e.kind() == ErrorKind::Interrupted => continue,
                Err(_) => {}
            }
            break;
        }
    }
}
