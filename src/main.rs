//! `ferry`: the network half of Ferry, run by the BEAM as a port.
//! See docs/PROTOCOL.md for what crosses stdin and stdout.

mod config;
mod conn;
mod etf;
mod exit;
mod fanout;
mod frame;
mod groups;
mod http;
mod listener;
mod pipes;
mod protocol;
mod server;
mod splice;
mod stats;
mod tls;
mod ws;

use exit::{EXIT_PANIC, EXIT_USAGE};

const USAGE: &str = "usage: ferry [--options-markdown | --version]\n\
    Without arguments, ferry speaks the port protocol on stdin/stdout (docs/PROTOCOL.md).";

fn main() {
    // A panic is a bug: say where on stderr and exit with the documented
    // code, so the supervisor restarts a clean process.
    std::panic::set_hook(Box::new(|info| {
        eprintln!("ferry: panic: {info}");
        std::process::exit(EXIT_PANIC);
    }));
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.first().map(String::as_str) {
        None => {
            big_buffers_go_back();
            server::run()
        }
        Some("--options-markdown") => print!("{}", config::options_markdown()),
        Some("--version") => println!("ferry {}", env!("CARGO_PKG_VERSION")),
        Some("--help") => println!("{USAGE}"),
        Some(other) => exit::fatal(EXIT_USAGE, &format!("unknown argument {other:?}\n{USAGE}")),
    }
}

/// Buffers of 4 MiB or more (a large message being put together, its
/// compressed echo) come from mmap and go back to the kernel when freed.
/// glibc's default raises that threshold to the largest buffer freed so
/// far (up to 32 MiB), after which such buffers come from the heap and
/// their pages stay with the process: 20 inflated 16 MiB messages, each
/// freed once sent to the BEAM, kept 360 MB of RSS. Not lower: the data
/// paths' buffers (stream chunks, a connection's output, up to 1 MiB) stay
/// in the heap, where freeing and reusing them costs no page faults.
fn big_buffers_go_back() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only sets a tunable of the allocator, before any
    // other thread exists; a refusal leaves glibc's default.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, 4 << 20);
    }
}
