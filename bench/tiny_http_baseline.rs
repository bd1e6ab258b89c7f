//! The no-BEAM baseline of the benchmark: the same routes as the Ferry bench
//! servers, answered by tiny_http alone (the engine of the original Tinybeam).
//! Whatever Ferry loses against this is the cost of the port hop and the VM.
//!
//! Usage: tiny_http_baseline [PORT]   (default 8080; 0 picks a free port)
//!
//! Routes, the same as bench/servers/ferry_bench_h.erl:
//!   GET  /                 200 "Hello, world!"
//!   POST /upload           reads the body in 1 MiB reads, answers its length
//!   GET  /download?bytes=N streams N zero bytes with a content-length
//!   GET  /file?bytes=N     the file $BENCH_FILE_DIR/bench-N.bin
//!   POST /upload_file      copies the body into a file under $BENCH_UPLOAD_DIR,
//!                          answers its length, removes the file
//!
//! tiny_http runs one thread per connection (its task pool) and hands parsed
//! requests to whoever calls `recv`; a few worker threads answer them.

use std::fs::File;
use std::io::{self, Read};
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::Duration;

use tiny_http::{Header, Method, Request, Response, Server};

/// Bytes per read of an upload and per write of a download.
const IO_CHUNK: usize = 1 << 20;

/// A `Read` of `remaining` zero bytes, so a download costs no memory.
struct Zeros {
    remaining: u64,
}

impl Read for Zeros {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = buf.len().min(usize::try_from(self.remaining).unwrap_or(usize::MAX));
        buf[..n].fill(0);
        self.remaining -= n as u64;
        Ok(n)
    }
}

fn text_plain() -> Header {
    Header::from_bytes(&b"content-type"[..], &b"text/plain"[..]).expect("static header is valid")
}

fn query_bytes(url: &str) -> Option<u64> {
    let query = url.split_once('?')?.1;
    query
        .split('&')
        .find_map(|kv| kv.strip_prefix("bytes="))
        .and_then(|v| v.parse().ok())
}

/// A directory named by the harness in the environment (scenarios 14-15).
fn env_dir(name: &str) -> PathBuf {
    std::env::var_os(name).filter(|d| !d.is_empty()).map_or_else(|| PathBuf::from("/tmp"), PathBuf::from)
}

fn octet_stream() -> Header {
    Header::from_bytes(&b"content-type"[..], &b"application/octet-stream"[..]).expect("static header is valid")
}

fn upload_to_file(mut request: Request) -> io::Result<()> {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let name = format!("tiny_http-upload-{}-{}", std::process::id(), NEXT.fetch_add(1, Ordering::Relaxed));
    let path = env_dir("BENCH_UPLOAD_DIR").join(name);
    let total = io::copy(request.as_reader(), &mut File::create(&path)?)?;
    let sent = request.respond(Response::from_string(total.to_string()).with_header(text_plain()));
    std::fs::remove_file(&path)?;
    sent
}

fn answer(mut request: Request) -> io::Result<()> {
    let path = request.url().split('?').next().unwrap_or("").to_owned();
    match (request.method(), path.as_str()) {
        (Method::Get, "/") => {
            request.respond(Response::from_string("Hello, world!").with_header(text_plain()))
        }
        (Method::Post, "/upload") => {
            let mut buf = vec![0u8; IO_CHUNK];
            let mut total: u64 = 0;
            let reader = request.as_reader();
            loop {
                match reader.read(&mut buf) {
                    Ok(0) => break,
                    Ok(n) => total += n as u64,
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                    Err(e) => return Err(e),
                }
            }
            request.respond(Response::from_string(total.to_string()).with_header(text_plain()))
        }
        (Method::Post, "/upload_file") => upload_to_file(request),
        (Method::Get, "/file") => match query_bytes(request.url()) {
            Some(n) => {
                let file = File::open(env_dir("BENCH_FILE_DIR").join(format!("bench-{n}.bin")))?;
                let response = Response::from_file(file).with_header(octet_stream()).with_chunked_threshold(usize::MAX);
                request.respond(response)
            }
            None => request.respond(Response::from_string("bytes=N missing").with_status_code(400)),
        },
        (Method::Get, "/download") => match query_bytes(request.url()) {
            Some(n) => {
                let len = usize::try_from(n).unwrap_or(usize::MAX);
                let response = Response::new(
                    200.into(),
                    vec![octet_stream()],
                    Zeros { remaining: n },
                    Some(len),
                    None,
                )
                // tiny_http chunks anything over 32 KiB unless told otherwise;
                // the other servers send this with a content-length.
                .with_chunked_threshold(usize::MAX);
                request.respond(response)
            }
            None => request.respond(Response::from_string("bytes=N missing").with_status_code(400)),
        },
        _ => request.respond(Response::from_string("not found").with_status_code(404)),
    }
}

fn main() {
    let port: u16 = std::env::args().nth(1).and_then(|p| p.parse().ok()).unwrap_or(8080);
    let server = match Server::http(("127.0.0.1", port)) {
        Ok(s) => Arc::new(s),
        Err(e) => {
            eprintln!("tiny_http_baseline: cannot listen on 127.0.0.1:{port}: {e}");
            std::process::exit(2);
        }
    };
    println!("listening on {}", server.server_addr());

    let workers = thread::available_parallelism().map(|n| n.get()).unwrap_or(2) * 2;
    let handles: Vec<_> = (0..workers)
        .map(|_| {
            let server = Arc::clone(&server);
            thread::spawn(move || loop {
                match server.recv() {
                    Ok(request) => {
                        // A client that goes away mid-answer is not our problem.
                        let _ = answer(request);
                    }
                    // tiny_http keeps two descriptors per connection, so
                    // near 10,000 connections accept hits the 20,000-file
                    // limit (EMFILE): say so and keep serving the others.
                    Err(e) => {
                        eprintln!("tiny_http_baseline: recv: {e}");
                        thread::sleep(Duration::from_millis(10));
                    }
                }
            })
        })
        .collect();
    for h in handles {
        let _ = h.join();
    }
}
