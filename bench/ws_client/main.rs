//! The WebSocket client of the benchmark (scenarios 8-11, bench/README.md):
//! one thread and one mio loop, so that on a 2-CPU machine it costs the
//! server as little CPU as the client can (a Python client took more CPU per
//! message than the servers it measured).
//!
//!   ws_client idle   PORT PATH COUNT SRC [deflate]
//!       COUNT connections from SRC (127.0.0.x); each sends one 100-byte
//!       text message (compressed when permessage-deflate was agreed) and
//!       reads its echo, then stays idle. Prints `ready OPEN FAILED`; each
//!       `check` on stdin prints `alive N`; end of stdin closes all.
//!   echo   PORT PATH CONNS WARMUP SECONDS BYTES PIDS
//!       CONNS connections each send a text message of BYTES, wait for the
//!       echo, repeat. Counts round trips for SECONDS after WARMUP seconds.
//!   fanout PORT[,PORT...] PATH SUBS ROUNDS PIDS [MODES]
//!       SUBS connections to PATH (which joins them to a group and says
//!       so), then ROUNDS times: POST /publish on a keep-alive HTTP
//!       connection and the time until the last subscriber has the message
//!       (the kernel's receive time). MODES, comma-separated, each measured
//!       in every round (default `reading`):
//!         reading  the client reads each subscriber as its message arrives;
//!         alone    the client reads nothing until the server has answered
//!                  the publish and its CPU has gone quiet, so that it does
//!                  not take the machine's CPUs from the server meanwhile.
//!       With several ports (edge nodes of a cluster, scenario 16) the
//!       subscribers are spread evenly and the first port is published to.
//!   big    PORT PATH BYTES ROUNDS PIDS
//!       one binary message of BYTES echoed, ROUNDS times.
//!
//! PIDS: comma-separated pids of the server's processes; the CPU each used
//! during the measured window (its process CPU clock, in ns) is reported.
//! Output: one JSON object on stdout (idle: the lines above).

mod conn;

use std::io::{self, Read, Write};
use std::net::{Ipv4Addr, SocketAddr};
use std::os::fd::AsRawFd;
use std::time::{Duration, Instant};

use conn::{Conn, Event, State, BINARY, TEXT};
use mio::unix::SourceFd;
use mio::{Events, Interest, Poll, Token};

/// Handshakes in progress at once while connections are opened.
const IN_FLIGHT: usize = 256;
const STDIN: Token = Token(usize::MAX);
/// The message each idle connection sends: a chat line, worth compressing
/// (the servers compress only messages of 64 bytes or more).
const IDLE_MESSAGE: &[u8] =
    b"{\"type\":\"message\",\"room\":\"lobby\",\"user\":\"bench-client\",\"text\":\"hello, everyone in the room!\"}   ";

type Res<T> = Result<T, Box<dyn std::error::Error>>;

fn main() {
    if let Err(e) = run() {
        eprintln!("ws_client: {e}");
        std::process::exit(1);
    }
}

fn run() -> Res<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let arg = |i: usize| args.get(i).map(String::as_str).ok_or("missing argument (see the usage in ws_client/main.rs)");
    let dsts = arg(1)?.split(',').map(|p| Ok(SocketAddr::from(([127, 0, 0, 1], p.parse()?)))).collect::<Res<Vec<_>>>()?;
    let dst = dsts[0];
    let path = arg(2)?;
    match arg(0)? {
        "idle" => idle(dst, path, arg(3)?.parse()?, arg(4)?.parse()?, args.get(5).is_some_and(|a| a == "deflate")),
        "echo" => echo(dst, path, arg(3)?.parse()?, secs(arg(4)?)?, secs(arg(5)?)?, arg(6)?.parse()?, &pids(arg(7)?)?),
        "fanout" => {
            let modes = args.get(6).map_or("reading", String::as_str).split(',').map(Mode::parse).collect::<Res<Vec<_>>>()?;
            fanout(&dsts, path, arg(3)?.parse()?, arg(4)?.parse()?, &pids(arg(5)?)?, &modes)
        }
        "big" => big(dst, path, arg(3)?.parse()?, arg(4)?.parse()?, &pids(arg(5)?)?),
        other => Err(format!("unknown mode {other}").into()),
    }
}

fn secs(s: &str) -> Res<Duration> {
    Ok(Duration::from_secs_f64(s.parse()?))
}

fn pids(s: &str) -> Res<Vec<i32>> {
    Ok(s.split(',').filter(|p| !p.is_empty()).map(str::parse).collect::<Result<_, _>>()?)
}

// --- opening connections --------------------------------------------------

/// What a connection does between its 101 and counting as open.
#[derive(Clone, Copy)]
enum First<'a> {
    Nothing,
    /// Send this text message and wait for the answer (idle).
    Exchange(&'a [u8]),
    /// Wait for the server's first message (a subscriber's "joined").
    Await,
}

struct Net {
    poll: Poll,
    events: Events,
    buf: Vec<u8>,
    conns: Vec<Conn>,
}

impl Net {
    fn new() -> Res<Net> {
        Ok(Net { poll: Poll::new()?, events: Events::with_capacity(1024), buf: vec![0; 256 * 1024], conns: Vec::new() })
    }

    /// Opens `count` WebSockets to `dst` from the source addresses `srcs`
    /// in turn. Returns how many failed; the open ones are in `conns`.
    fn open(&mut self, dst: SocketAddr, path: &str, count: usize, srcs: &[Ipv4Addr], deflate: bool, first: First<'_>) -> Res<usize> {
        let deadline = Instant::now() + Duration::from_secs(120);
        // Connections opened by an earlier call (another port) are done.
        let base = self.conns.len();
        let (mut started, mut ready, mut failed, mut busy) = (0, 0, 0, 0);
        let mut done = Vec::with_capacity(count);
        while ready + failed < count {
            while busy < IN_FLIGHT && started < count {
                match conn::connect(srcs[started % srcs.len()], dst) {
                    Ok(mut sock) => {
                        let token = Token(self.conns.len());
                        self.poll.registry().register(&mut sock, token, Interest::READABLE | Interest::WRITABLE)?;
                        self.conns.push(Conn::new(sock));
                        done.push(false);
                        busy += 1;
                    }
                    Err(_) => failed += 1,
                }
                started += 1;
            }
            if Instant::now() > deadline {
                return Err(format!("{ready} of {count} connections open after 120 s").into());
            }
            self.poll.poll(&mut self.events, Some(Duration::from_millis(100)))?;
            for ev in self.events.iter() {
                let Some(i) = ev.token().0.checked_sub(base).filter(|i| *i < done.len()) else { continue };
                let c = &mut self.conns[base + i];
                if done[i] || c.state == State::Closed {
                    continue;
                }
                let mut opened = false;
                let r = (|| -> io::Result<()> {
                    if c.state == State::Connecting && ev.is_writable() {
                        c.connected("bench", path, deflate)?;
                    }
                    if ev.is_writable() {
                        c.flush()?;
                    }
                    if ev.is_readable() {
                        c.read(&mut self.buf, |c, e| match (e, first) {
                            (Event::Opened, First::Nothing) => opened = true,
                            (Event::Opened, First::Exchange(text)) => {
                                let f = if c.deflate { conn::frame(TEXT, true, &conn::deflated(text)) } else { conn::frame(TEXT, false, text) };
                                let _ = c.send(&f);
                            }
                            (Event::Opened, First::Await) => {}
                            (Event::Message(_), _) => opened = true,
                        })?;
                    }
                    Ok(())
                })();
                if r.is_err() || c.state == State::Closed {
                    c.state = State::Closed;
                    failed += 1;
                    busy -= 1;
                } else if opened {
                    done[i] = true;
                    ready += 1;
                    busy -= 1;
                }
            }
        }
        Ok(failed)
    }

    /// Handles the events of one poll: flushes, reads, and calls `on` with
    /// each connection's events. Returns the tokens polled (for STDIN and
    /// CONTROL, which the caller handles).
    fn turn(&mut self, timeout: Option<Duration>, mut on: impl FnMut(usize, &mut Conn, Event)) -> Res<Vec<Token>> {
        self.poll.poll(&mut self.events, timeout)?;
        let mut other = Vec::new();
        for ev in self.events.iter() {
            let i = ev.token().0;
            let Some(c) = self.conns.get_mut(i) else {
                other.push(ev.token());
                continue;
            };
            if c.state == State::Closed {
                continue;
            }
            if ev.is_writable() && c.flush().is_err() {
                c.state = State::Closed;
            }
            if ev.is_readable() {
                let _ = c.read(&mut self.buf, |c, e| on(i, c, e));
            }
        }
        Ok(other)
    }
}

// --- the modes ---------------------------------------------------------------

fn idle(dst: SocketAddr, path: &str, count: usize, src: Ipv4Addr, deflate: bool) -> Res<()> {
    let mut net = Net::new()?;
    let failed = net.open(dst, path, count, &[src], deflate, First::Exchange(IDLE_MESSAGE))?;
    let open = net.conns.iter().filter(|c| c.state == State::Open).count();
    println!("ready {open} {failed}");
    let stdin_fd = io::stdin().as_raw_fd();
    net.poll.registry().register(&mut SourceFd(&stdin_fd), STDIN, Interest::READABLE)?;
    // Non-blocking, read until it would block: an edge seen by a poll made
    // for something else (a check's) is then never lost.
    // SAFETY: fcntl on our own stdin.
    unsafe { libc::fcntl(stdin_fd, libc::F_SETFL, libc::fcntl(stdin_fd, libc::F_GETFL) | libc::O_NONBLOCK) };
    let mut stdin = io::stdin().lock();
    let mut pending = Vec::new();
    // Larger than stdin's own buffer, so reads bypass it.
    let mut chunk = [0u8; 65536];
    let mut stdin_ready = false;
    loop {
        // Pings are answered, closes noted, while the harness reads memory.
        if !stdin_ready && !net.turn(None, |_, _, _| {})?.contains(&STDIN) {
            continue;
        }
        stdin_ready = false;
        let mut eof = false;
        while !eof {
            match stdin.read(&mut chunk) {
                Ok(0) => eof = true,
                Ok(n) => pending.extend_from_slice(&chunk[..n]),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e.into()),
            }
        }
        while let Some(end) = pending.iter().position(|&b| b == b'\n') {
            let line: Vec<u8> = pending.drain(..=end).collect();
            if line.trim_ascii() == b"check" {
                stdin_ready |= net.turn(Some(Duration::ZERO), |_, _, _| {})?.contains(&STDIN);
                let alive = net.conns.iter().filter(|c| c.state == State::Open).count();
                println!("alive {alive}");
                io::stdout().flush()?;
            }
        }
        if eof {
            return Ok(());
        }
    }
}

fn echo(dst: SocketAddr, path: &str, conns: usize, warmup: Duration, measure: Duration, bytes: usize, pids: &[i32]) -> Res<()> {
    let mut net = Net::new()?;
    let failed = net.open(dst, path, conns, &[Ipv4Addr::LOCALHOST], false, First::Nothing)?;
    if failed > 0 {
        return Err(format!("{failed} of {conns} connections failed").into());
    }
    let msg = conn::frame(TEXT, false, &vec![b'x'; bytes]);
    let mut sent_at = vec![Instant::now(); conns];
    for c in net.conns.iter_mut() {
        c.send(&msg)?;
    }
    let start = Instant::now();
    let (mut measuring, mut count, mut rtts) = (false, 0u64, Vec::with_capacity(1 << 20));
    let (mut cpu0, mut self0, mut t0) = (Vec::new(), 0, start);
    loop {
        let now = Instant::now();
        if !measuring && now >= start + warmup {
            (measuring, cpu0, self0, t0) = (true, cpu_ns(pids), own_cpu_ns(), now);
        }
        if measuring && now >= t0 + measure {
            break;
        }
        net.turn(Some(Duration::from_millis(10)), |i, c, e| {
            if let Event::Message(_) = e {
                let now = Instant::now();
                if measuring {
                    count += 1;
                    rtts.push(now.duration_since(sent_at[i]).as_micros() as u32);
                }
                sent_at[i] = now;
                let _ = c.send(&msg);
            }
        })?;
    }
    let elapsed = t0.elapsed().as_secs_f64();
    let (cpu1, self1) = (cpu_ns(pids), own_cpu_ns());
    let closed = net.conns.iter().filter(|c| c.state == State::Closed).count();
    rtts.sort_unstable();
    let pct = |p: f64| rtts.get(((rtts.len() as f64 * p) as usize).min(rtts.len().saturating_sub(1))).copied().unwrap_or(0);
    println!(
        "{{\"messages\": {count}, \"seconds\": {elapsed:.4}, \"closed\": {closed}, \"p50_us\": {}, \"p99_us\": {}, \
         \"cpu_ns\": {}, \"client_cpu_ns\": {}}}",
        pct(0.5), pct(0.99), cpu_json(pids, &cpu0, &cpu1), self1 - self0
    );
    Ok(())
}

/// How the fan-out client reads its subscribers during a publish.
#[derive(Clone, Copy, PartialEq)]
enum Mode {
    Reading,
    Alone,
}

impl Mode {
    fn parse(s: &str) -> Res<Mode> {
        match s {
            "reading" => Ok(Mode::Reading),
            "alone" => Ok(Mode::Alone),
            other => Err(format!("unknown fan-out mode {other} (reading or alone)").into()),
        }
    }

    fn name(self) -> &'static str {
        match self {
            Mode::Reading => "reading",
            Mode::Alone => "alone",
        }
    }
}

fn fanout(dsts: &[SocketAddr], path: &str, subs: usize, rounds: usize, pids: &[i32], modes: &[Mode]) -> Res<()> {
    let dst = dsts[0];
    let mut net = Net::new()?;
    // Four source addresses, as scenario 3: no address runs short of ports.
    let srcs: Vec<Ipv4Addr> = (2..6).map(|i| Ipv4Addr::new(127, 0, 0, i)).collect();
    for (k, d) in dsts.iter().enumerate() {
        let count = subs / dsts.len() + usize::from(k < subs % dsts.len());
        let failed = net.open(*d, path, count, &srcs, false, First::Await)?;
        if failed > 0 {
            return Err(format!("{failed} of {count} subscribers on {d} failed").into());
        }
    }
    for c in &net.conns {
        timestamps_on(c)?;
    }
    let mut control = std::net::TcpStream::connect(dst)?;
    control.set_nodelay(true)?;
    let mut results = Vec::new();
    for round in 0..rounds {
        for &mode in modes {
            results.push(publish(&mut net, &mut control, subs, pids, round, mode)?);
        }
    }
    println!("{{\"subscribers\": {subs}, \"rounds\": [{}]}}", results.join(", "));
    Ok(())
}

/// One publish, measured: its JSON figures.
fn publish(net: &mut Net, control: &mut std::net::TcpStream, subs: usize, pids: &[i32], round: usize, mode: Mode) -> Res<String> {
    // Quiet between publishes: each is measured alone. What the server
    // uses meanwhile (timers, housekeeping) is its idle rate, reported
    // so that it can be taken off the publish's window.
    let (quiet0, q0) = (cpu_ns(pids), Instant::now());
    std::thread::sleep(Duration::from_millis(300));
    let (quiet1, quiet_ns) = (cpu_ns(pids), q0.elapsed().as_nanos() as u64);
    let text = format!("publish {round:06} ..................");
    let request = format!(
        "POST /publish HTTP/1.1\r\nhost: bench\r\ncontent-type: text/plain\r\ncontent-length: {}\r\n\r\n{text}",
        text.len()
    );
    let mut got = vec![0u64; subs];
    let mut left = subs;
    let cpu0 = cpu_ns(pids);
    let t0 = realtime_ns();
    control.write_all(request.as_bytes())?;
    let answered = mode == Mode::Alone;
    if answered {
        read_http_response(control)?;
        wait_quiet(pids, Duration::from_secs(5));
    }
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut tokens = Vec::new();
    while left > 0 {
        if Instant::now() > deadline {
            return Err(format!("round {round}: {left} of {subs} subscribers without the message after 30 s").into());
        }
        tokens.clear();
        net.poll.poll(&mut net.events, Some(Duration::from_millis(100)))?;
        tokens.extend(net.events.iter().map(|e| e.token().0));
        for &i in &tokens {
            // The kernel's receive time of the message: what the client
            // does after that (its own turn on the CPU) is not the server's.
            if got[i] == 0 {
                if let Some(ts) = recv_stamped(&net.conns[i], &mut net.buf)? {
                    got[i] = ts;
                    left -= 1;
                }
            }
        }
    }
    let seen = realtime_ns();
    let cpu1 = cpu_ns(pids);
    let window_ns = seen - t0;
    if !answered {
        read_http_response(control)?;
    }
    got.sort_unstable();
    Ok(format!(
        "{{\"mode\": \"{}\", \"last_us\": {:.1}, \"median_us\": {:.1}, \"first_us\": {:.1}, \"client_done_us\": {:.1}, \
         \"cpu_ns\": {}, \"window_ns\": {}, \"quiet_ns\": {quiet_ns}, \"quiet_cpu_ns\": {}}}",
        mode.name(),
        (got[subs - 1] as f64 - t0 as f64) / 1e3,
        (got[subs / 2] as f64 - t0 as f64) / 1e3,
        (got[0] as f64 - t0 as f64) / 1e3,
        (seen - t0) as f64 / 1e3,
        cpu_json(pids, &cpu0, &cpu1),
        window_ns,
        cpu_json(pids, &quiet0, &quiet1)
    ))
}

/// Sleeps until the server's processes together have used less than a
/// fifth of a CPU in each of three 1 ms slices running (or `limit` has
/// passed): the publish's writes are over, and reading the subscribers
/// can no longer take a CPU from them.
fn wait_quiet(pids: &[i32], limit: Duration) {
    const SLICE: Duration = Duration::from_millis(1);
    let start = Instant::now();
    let total = |v: Vec<u64>| v.iter().sum::<u64>();
    let mut last = (total(cpu_ns(pids)), Instant::now());
    let mut quiet = 0;
    while quiet < 3 && start.elapsed() < limit {
        std::thread::sleep(SLICE);
        let now = (total(cpu_ns(pids)), Instant::now());
        let busy = now.0.saturating_sub(last.0) as f64 / now.1.duration_since(last.1).as_nanos().max(1) as f64;
        quiet = if busy < 0.2 { quiet + 1 } else { 0 };
        last = now;
    }
}

fn big(dst: SocketAddr, path: &str, bytes: usize, rounds: usize, pids: &[i32]) -> Res<()> {
    let mut net = Net::new()?;
    if net.open(dst, path, 1, &[Ipv4Addr::LOCALHOST], false, First::Nothing)? > 0 {
        return Err("the connection failed".into());
    }
    let payload: Vec<u8> = (0..bytes).map(|i| (i % 251) as u8).collect();
    let msg = conn::frame(BINARY, false, &payload);
    let mut results = Vec::new();
    for _ in 0..rounds {
        let cpu0 = cpu_ns(pids);
        let t0 = Instant::now();
        net.conns[0].send(&msg)?;
        let mut echoed = None;
        while echoed.is_none() {
            if t0.elapsed() > Duration::from_secs(300) {
                return Err("no echo within 300 s".into());
            }
            net.turn(Some(Duration::from_millis(100)), |_, _, e| {
                if let Event::Message(n) = e {
                    echoed = Some(n);
                }
            })?;
            if net.conns[0].state == State::Closed {
                return Err("the server closed the connection".into());
            }
        }
        let secs = t0.elapsed().as_secs_f64();
        let cpu1 = cpu_ns(pids);
        if echoed != Some(bytes) {
            return Err(format!("echo of {echoed:?} bytes, sent {bytes}").into());
        }
        results.push(format!("{{\"seconds\": {secs:.4}, \"cpu_ns\": {}}}", cpu_json(pids, &cpu0, &cpu1)));
    }
    println!("{{\"bytes\": {bytes}, \"rounds\": [{}]}}", results.join(", "));
    Ok(())
}

// --- helpers -------------------------------------------------------------------

/// CPU time used so far by each process (all its threads), in ns: its
/// process CPU clock (clock_getcpuclockid), finer than /proc's 10 ms ticks.
fn cpu_ns(pids: &[i32]) -> Vec<u64> {
    pids.iter()
        .map(|&pid| {
            // MAKE_PROCESS_CPUCLOCK(pid, CPUCLOCK_SCHED), as glibc's clock_getcpuclockid.
            let clock = ((!pid) << 3) | 2;
            let mut ts = libc::timespec { tv_sec: 0, tv_nsec: 0 };
            // SAFETY: a valid timespec to write to.
            if unsafe { libc::clock_gettime(clock, &mut ts) } == 0 {
                ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64
            } else {
                0
            }
        })
        .collect()
}

fn own_cpu_ns() -> u64 {
    cpu_ns(&[std::process::id() as i32])[0]
}

fn cpu_json(pids: &[i32], before: &[u64], after: &[u64]) -> String {
    let parts: Vec<String> =
        pids.iter().zip(before.iter().zip(after)).map(|(p, (b, a))| format!("\"{p}\": {}", a.saturating_sub(*b))).collect();
    format!("{{{}}}", parts.join(", "))
}

fn realtime_ns() -> u64 {
    let mut ts = libc::timespec { tv_sec: 0, tv_nsec: 0 };
    // SAFETY: a valid timespec to write to.
    unsafe { libc::clock_gettime(libc::CLOCK_REALTIME, &mut ts) };
    ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64
}

/// The kernel stamps each received segment (SO_TIMESTAMPNS, CLOCK_REALTIME).
fn timestamps_on(c: &Conn) -> io::Result<()> {
    let one: libc::c_int = 1;
    // SAFETY: a valid socket and an int option.
    let r = unsafe {
        libc::setsockopt(c.sock.as_raw_fd(), libc::SOL_SOCKET, libc::SO_TIMESTAMPNS,
                         &one as *const _ as *const libc::c_void, std::mem::size_of::<libc::c_int>() as u32)
    };
    if r == 0 { Ok(()) } else { Err(io::Error::last_os_error()) }
}

/// Reads what the socket has; the kernel's receive time of the last
/// segment read, once any data came (the publish is one small frame).
fn recv_stamped(c: &Conn, buf: &mut [u8]) -> io::Result<Option<u64>> {
    let mut stamp = None;
    loop {
        let mut iov = libc::iovec { iov_base: buf.as_mut_ptr() as *mut libc::c_void, iov_len: buf.len() };
        let mut cmsg = [0u64; 16];
        // SAFETY: zeroed msghdr, then pointed at live buffers.
        let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
        msg.msg_iov = &mut iov;
        msg.msg_iovlen = 1;
        msg.msg_control = cmsg.as_mut_ptr() as *mut libc::c_void;
        msg.msg_controllen = std::mem::size_of_val(&cmsg);
        // SAFETY: the msghdr points at buffers that outlive the call.
        let n = unsafe { libc::recvmsg(c.sock.as_raw_fd(), &mut msg, libc::MSG_DONTWAIT) };
        if n < 0 {
            let e = io::Error::last_os_error();
            return if e.kind() == io::ErrorKind::WouldBlock { Ok(stamp) } else { Err(e) };
        }
        if n == 0 {
            return Err(io::Error::other("a subscriber was closed"));
        }
        // SAFETY: walking the control messages the kernel wrote.
        unsafe {
            let mut h = libc::CMSG_FIRSTHDR(&msg);
            while !h.is_null() {
                if (*h).cmsg_level == libc::SOL_SOCKET && (*h).cmsg_type == libc::SCM_TIMESTAMPNS {
                    let ts = std::ptr::read_unaligned(libc::CMSG_DATA(h) as *const libc::timespec);
                    stamp = Some(ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64);
                }
                h = libc::CMSG_NXTHDR(&msg, h);
            }
        }
        stamp.get_or_insert_with(realtime_ns);
    }
}

/// Reads one small HTTP response (the publish's "ok") to its end.
fn read_http_response(s: &mut std::net::TcpStream) -> io::Result<()> {
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        let n = s.read(&mut buf)?;
        if n == 0 {
            return Err(io::Error::other("control connection closed"));
        }
        got.extend_from_slice(&buf[..n]);
        if let Some(end) = got.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&got[..end]).to_ascii_lowercase();
            let len: usize = head
                .lines()
                .find_map(|l| l.strip_prefix("content-length:"))
                .and_then(|v| v.trim().parse().ok())
                .unwrap_or(0);
            if got.len() >= end + 4 + len {
                if !head.starts_with("http/1.1 200") {
                    return Err(io::Error::other(format!("publish answered {}", head.lines().next().unwrap_or(""))));
                }
                return Ok(());
            }
        }
    }
}
