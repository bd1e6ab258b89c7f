//! The `date` header value (RFC 7231 §7.1.1.1, IMF-fixdate), formatted once
//! per second rather than once per response.

use std::time::{SystemTime, UNIX_EPOCH};

pub struct HttpDate {
    second: u64,
    text: [u8; 29],
}

impl Default for HttpDate {
    fn default() -> Self {
        let mut d = HttpDate { second: u64::MAX, text: [b' '; 29] };
        d.refresh();
        d
    }
}

impl HttpDate {
    pub fn refresh(&mut self) {
        let secs = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
        if secs != self.second {
            self.second = secs;
            self.text = format_imf(secs);
        }
    }

    pub fn as_bytes(&self) -> &[u8] {
        &self.text
    }
}

/// `Sun, 06 Nov 1994 08:49:37 GMT` for seconds since the epoch.
pub fn format_imf(secs: u64) -> [u8; 29] {
    const DAYS: [&str; 7] = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"];
    const MONTHS: [&str; 12] = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];
    let days = secs / 86400;
    let rem = secs % 86400;
    let (y, m, d) = civil_from_days(days as i64);
    let s = format!(
        "{}, {:02} {} {:04} {:02}:{:02}:{:02} GMT",
        DAYS[(days % 7) as usize],
        d,
        MONTHS[(m - 1) as usize],
        y,
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    );
    let mut out = [b' '; 29];
    let n = s.len().min(29);
    out[..n].copy_from_slice(&s.as_bytes()[..n]);
    out
}

/// Days since 1970-01-01 to (year, month, day); Howard Hinnant's algorithm.
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (yoe + era * 400 + (m <= 2) as i64, m, d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_known_dates() {
        assert_eq!(&format_imf(784111777), b"Sun, 06 Nov 1994 08:49:37 GMT");
        assert_eq!(&format_imf(0), b"Thu, 01 Jan 1970 00:00:00 GMT");
        assert_eq!(&format_imf(951782400), b"Tue, 29 Feb 2000 00:00:00 GMT");
    }
}
