//! Send credit (docs/PROTOCOL.md "Streamed-response flow control"): the
//! BEAM may have `send_window` bytes of data outstanding on one connection;
//! `{stream_credit, Id, Bytes}` gives them back as they leave for the
//! client's socket. The data's bytes on the wire may differ from the
//! BEAM's count (a compressed WebSocket message): what is given back never
//! passes what the BEAM sent, and everything comes back once the output
//! is all written.

#[derive(Debug, Default)]
pub struct Credit {
    /// Data bytes the BEAM sent that were not credited back yet.
    pub outstanding: u64,
    /// Bytes of that data (as encoded) still in the connection's output.
    in_out: u64,
    /// Data bytes written and not yet credited.
    uncredited: u64,
}

impl Credit {
    /// Whether `len` more bytes overrun the window by more than a window.
    /// One piece may pass the window when nothing is outstanding.
    pub fn overruns(&self, len: u64, window: u64) -> bool {
        self.outstanding > 0 && self.outstanding.saturating_add(len) > window.saturating_mul(2)
    }

    /// `data` bytes from the BEAM: `queued` bytes of their encoding wait
    /// in the output, `written` data bytes went to the socket at once.
    pub fn sent(&mut self, data: u64, queued: u64, written: u64) {
        self.outstanding += data;
        self.in_out += queued;
        self.uncredited = (self.uncredited + written).min(self.outstanding);
    }

    /// `n` bytes of output reached the socket (counted as this data's first).
    pub fn written(&mut self, n: u64) {
        let d = n.min(self.in_out);
        self.in_out -= d;
        self.uncredited = (self.uncredited + d).min(self.outstanding);
    }

    /// The output is all written: so is every byte the BEAM sent.
    pub fn flushed(&mut self) {
        self.in_out = 0;
        self.uncredited = self.outstanding;
    }

    /// The credit to give back now, if any: once half a window has been
    /// written, or when everything has been (`all_written`), so a sender
    /// waiting for credit always gets it.
    pub fn due(&mut self, window: u64, all_written: bool) -> Option<u64> {
        if self.uncredited > 0 && (all_written || self.uncredited >= window / 2) {
            let n = std::mem::take(&mut self.uncredited);
            self.outstanding -= n;
            return Some(n);
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_data_comes_back_as_it_is_written() {
        let mut c = Credit::default();
        c.sent(100, 100, 0);
        c.written(30);
        assert_eq!(c.due(100, false), None);
        c.written(600);
        // Output beyond the data (headers, other frames) credits nothing more.
        assert_eq!(c.due(100, false), Some(100));
        assert_eq!(c.outstanding, 0);
    }

    #[test]
    fn compressed_data_never_credits_more_than_was_sent() {
        let mut c = Credit::default();
        c.sent(1000, 50, 0);
        c.written(50);
        assert_eq!(c.due(100, false), Some(50));
        c.flushed();
        assert_eq!(c.due(100, true), Some(950));
        assert_eq!(c.outstanding, 0);
        assert_eq!(c.due(100, true), None);
    }

    #[test]
    fn overrun_allows_one_big_piece_alone() {
        let mut c = Credit::default();
        assert!(!c.overruns(10_000, 100));
        c.sent(10, 10, 0);
        assert!(!c.overruns(190, 100));
        assert!(c.overruns(191, 100));
    }
}
