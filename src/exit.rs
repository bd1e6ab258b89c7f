//! Named exit codes of the port program (docs/PROTOCOL.md, "Exit codes").
//! The BEAM sees them as `{Port, {exit_status, Code}}`.

/// stdin reached end of file (the VM is gone), or `drain` finished.
pub const EXIT_OK: i32 = 0;
/// `{listen_error, _}` was sent: bad config, address in use, …
pub const EXIT_LISTEN: i32 = 2;
/// A frame length over `max_frame`, or a first command that is not `listen`.
pub const EXIT_BAD_FRAME: i32 = 3;
/// stdout closed or failed: the BEAM can no longer be told anything.
pub const EXIT_STDOUT: i32 = 4;
/// An unknown command-line argument.
pub const EXIT_USAGE: i32 = 64;
/// A bug: a panic, its message on stderr.
pub const EXIT_PANIC: i32 = 70;

/// Writes one line to stderr (the only text Ferry ever writes outside the
/// protocol) and exits with `code`.
pub fn fatal(code: i32, message: &str) -> ! {
    eprintln!("ferry: {message}");
    std::process::exit(code)
}
