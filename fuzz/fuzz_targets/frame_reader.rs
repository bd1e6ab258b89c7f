//! stdin framing: the frames read do not depend on how the pipe splits the
//! bytes (first byte of the input picks the read sizes), and a length over
//! `max_frame` is an error, never an allocation.
#![no_main]

use ferry_fuzz::frame::FrameReader;
use libfuzzer_sys::fuzz_target;
use std::io::{self, Read};

const MAX_FRAME: usize = 1 << 16;

/// A pipe that hands out at most `step` bytes per read, then WouldBlock.
struct Pipe<'a> {
    data: &'a [u8],
    step: usize,
    blocked: bool,
}

impl Read for Pipe<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.blocked {
            self.blocked = false;
            return Err(io::ErrorKind::WouldBlock.into());
        }
        self.blocked = true;
        if self.data.is_empty() {
            return Ok(0);
        }
        let n = self.step.min(buf.len()).min(self.data.len());
        buf[..n].copy_from_slice(&self.data[..n]);
        self.data = &self.data[n..];
        Ok(n)
    }
}

/// Frames until end of input or a framing error (`None` in last place).
fn frames(data: &[u8], step: usize) -> Vec<Option<Vec<u8>>> {
    let mut reader = FrameReader::new(MAX_FRAME);
    let mut pipe = Pipe { data, step, blocked: false };
    let mut out = Vec::new();
    loop {
        let eof = matches!(reader.fill(&mut pipe), Ok(ferry_fuzz::frame::Fill::Eof));
        loop {
            match reader.next_frame() {
                Ok(Some(f)) => out.push(Some(f.to_vec())),
                Ok(None) => break,
                Err(_) => {
                    out.push(None);
                    return out;
                }
            }
        }
        if eof {
            return out;
        }
    }
}

fuzz_target!(|input: &[u8]| {
    let Some((&step, data)) = input.split_first() else { return };
    let whole = frames(data, usize::MAX);
    let split = frames(data, step as usize + 1);
    assert_eq!(whole, split, "frames depend on read sizes");
});
