//! Minimum data rates (`min_send_rate`, `min_body_rate`): a client that
//! moves a few bytes now and then is cut as one that moves none, the way
//! Kestrel's MinResponseDataRate and MinRequestBodyDataRate do.
//!
//! A wait is a time during which Ferry waits on the client alone; the bytes
//! moved since it began must average at least the rate, checked from
//! `GRACE_MS` after it began. The check costs no timer of its own: the
//! moment the average would fall below the rate, given no more bytes,
//! becomes the connection's deadline.
//!
//! Output counts as moved once the client has it, not once the kernel
//! took it: the socket's send queue can grow by megabytes while a client
//! reads nothing, and a wait that began before it filled (pongs queued
//! under a ping flood, issue 8) would otherwise count those as read.

/// The first seconds of a wait are free: TCP's slow start, a client's
/// first round trips.
pub const GRACE_MS: u64 = 5000;

/// Since when, and how many bytes moved since, in the current wait.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Wait {
    /// `u64::MAX`: no wait.
    since: u64,
    bytes: u64,
}

impl Wait {
    pub const NONE: Wait = Wait { since: u64::MAX, bytes: 0 };

    /// Begins a wait at `now` if `waiting` and none runs; ends it if not.
    pub fn track(&mut self, waiting: bool, now: u64) {
        self.track_queued(waiting, now, || 0);
    }

    /// `track` for output: `queued()` is what the kernel holds unsent or
    /// unacknowledged when the wait begins (asked only then), which the
    /// client has yet to take (`deadline_queued`).
    pub fn track_queued(&mut self, waiting: bool, now: u64, queued: impl FnOnce() -> u64) {
        if !waiting {
            *self = Wait::NONE;
        } else if self.since == u64::MAX {
            // Counted from the queue's level: what the kernel takes beyond it
            // is moved only once it leaves the queue again.
            *self = Wait { since: now, bytes: queued() };
        }
    }

    /// `n` bytes moved; counted only while a wait runs.
    pub fn add(&mut self, n: u64) {
        if self.since != u64::MAX {
            self.bytes = self.bytes.saturating_add(n);
        }
    }

    /// The first ms at which `bytes` falls below `rate` bytes/s on average,
    /// if no more come, and not before the grace ends; `u64::MAX` when no
    /// wait runs or the rate is 0 (off).
    pub fn deadline(&self, rate: u64) -> u64 {
        self.deadline_queued(rate, 0)
    }

    /// `deadline` for output, the kernel holding `queued` bytes now: the
    /// bytes written less what the queue grew by since the wait began.
    pub fn deadline_queued(&self, rate: u64, queued: u64) -> u64 {
        if rate == 0 || self.since == u64::MAX {
            return u64::MAX;
        }
        let moved = self.bytes.saturating_sub(queued);
        // The average falls short once elapsed * rate > moved * 1000.
        let covered = (moved.saturating_mul(1000) / rate).saturating_add(1);
        self.since.saturating_add(covered.max(GRACE_MS))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn waiting_since(since: u64, bytes: u64) -> Wait {
        let mut w = Wait::NONE;
        w.track(true, since);
        w.add(bytes);
        w
    }

    #[test]
    fn no_wait_or_no_rate_never_falls_due() {
        assert_eq!(Wait::NONE.deadline(240), u64::MAX);
        assert_eq!(waiting_since(100, 0).deadline(0), u64::MAX);
        let mut w = Wait::NONE;
        w.add(1000);
        w.track(true, 7);
        assert_eq!(w, Wait { since: 7, bytes: 0 }, "bytes before a wait do not count");
    }

    #[test]
    fn nothing_moved_falls_due_when_the_grace_ends() {
        assert_eq!(waiting_since(1000, 0).deadline(240), 1000 + GRACE_MS);
        // 1199 bytes are short of 5 s at 240 B/s.
        assert_eq!(waiting_since(1000, 1199).deadline(240), 1000 + GRACE_MS);
    }

    #[test]
    fn bytes_moved_buy_time_at_the_rate() {
        // 1200 bytes cover exactly 5 s at 240 B/s; short from the next ms.
        assert_eq!(waiting_since(0, 1200).deadline(240), 5001);
        // 24,000 bytes cover 100 s.
        assert_eq!(waiting_since(0, 24_000).deadline(240), 100_001);
        // Rates are per second, not per ms.
        assert_eq!(waiting_since(0, 50_000).deadline(10_000), 5001);
        assert_eq!(waiting_since(0, u64::MAX).deadline(1), u64::MAX);
    }

    #[test]
    fn what_the_kernel_still_holds_is_not_moved() {
        let mut w = Wait::NONE;
        w.track_queued(true, 0, || 100_000);
        assert_eq!(w, Wait { since: 0, bytes: 100_000 });
        w.track_queued(true, 10, || panic!("asked only when a wait begins"));
        // 2 MB written into a queue that grew by as much: nothing moved.
        w.add(2_000_000);
        assert_eq!(w.deadline_queued(240, 2_100_000), GRACE_MS);
        // The queue drained by 1200 bytes: those reached the client.
        assert_eq!(w.deadline_queued(240, 2_098_800), 5001);
        // Less queued than at the start: all that was written has moved.
        assert_eq!(w.deadline_queued(240, 0), w.deadline(240));
    }

    #[test]
    fn a_wait_runs_until_it_ends() {
        let mut w = waiting_since(10, 5);
        w.track(true, 2000);
        w.add(5);
        assert_eq!(w, Wait { since: 10, bytes: 10 });
        w.track(false, 3000);
        assert_eq!(w, Wait::NONE);
        w.track(true, 4000);
        assert_eq!(w, Wait { since: 4000, bytes: 0 });
    }
}
