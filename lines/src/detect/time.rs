//! Timestamp recognition without a clock: the shapes real logs use, parsed to epoch milliseconds.
//!
//! Every function looks at the *start* of its input and returns the parsed instant together with
//! the number of bytes it consumed. Formats without a year (RFC 3164, `Jun 14 15:16:01`) take the
//! year from the caller. Formats without a zone are read as UTC.

/// Milliseconds per second/minute/hour/day.
const MS_SEC: i64 = 1_000;
const MS_MIN: i64 = 60 * MS_SEC;
const MS_HOUR: i64 = 60 * MS_MIN;
const MS_DAY: i64 = 24 * MS_HOUR;

/// Days from 1970-01-01 to the given civil date (proleptic Gregorian; Howard Hinnant's algorithm).
pub(crate) fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = if y >= 0 { y } else { y - 399 } / 400;
    let yoe = y - era * 400;
    let m = i64::from(m);
    let mp = if m > 2 { m - 3 } else { m + 9 };
    let doy = (153 * mp + 2) / 5 + i64::from(d) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// Validated civil date and time to epoch milliseconds (UTC).
pub(crate) fn to_ms(y: i64, mo: u32, d: u32, h: u32, mi: u32, s: u32, ms: u32) -> Option<i64> {
    if !(1..=12).contains(&mo) || !(1..=31).contains(&d) || h > 23 || mi > 59 || s > 60 {
        return None;
    }
    Some(
        days_from_civil(y, mo, d) * MS_DAY
            + i64::from(h) * MS_HOUR
            + i64::from(mi) * MS_MIN
            + i64::from(s) * MS_SEC
            + i64::from(ms),
    )
}

/// The proleptic Gregorian (UTC) year of an instant in milliseconds since the Unix epoch
/// (Howard Hinnant's `civil_from_days`): the year to give formats that carry none.
pub fn year_of_ms(ms: i64) -> i32 {
    let z = ms.div_euclid(MS_DAY) + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    i32::try_from(year).unwrap_or(i32::MAX)
}

/// Three-letter English month abbreviation (any case) to 1..=12.
pub(crate) fn month(b: &[u8]) -> Option<u32> {
    let m = [
        b"jan", b"feb", b"mar", b"apr", b"may", b"jun", b"jul", b"aug", b"sep", b"oct", b"nov",
        b"dec",
    ];
    let b = b.get(..3)?;
    let lower = [
        b[0].to_ascii_lowercase(),
        b[1].to_ascii_lowercase(),
        b[2].to_ascii_lowercase(),
    ];
    m.iter().position(|x| **x == lower).map(|i| i as u32 + 1)
}

/// A tiny cursor over bytes.
struct Cur<'a> {
    b: &'a [u8],
    i: usize,
}

impl<'a> Cur<'a> {
    fn new(b: &'a [u8]) -> Self {
        Cur { b, i: 0 }
    }
    fn peek(&self) -> Option<u8> {
        self.b.get(self.i).copied()
    }
    fn eat(&mut self, c: u8) -> bool {
        if self.peek() == Some(c) {
            self.i += 1;
            true
        } else {
            false
        }
    }
    fn eat_any(&mut self, set: &[u8]) -> Option<u8> {
        let c = self.peek()?;
        if set.contains(&c) {
            self.i += 1;
            Some(c)
        } else {
            None
        }
    }
    /// Exactly `n` ASCII digits.
    fn digits(&mut self, n: usize) -> Option<u32> {
        let s = self.b.get(self.i..self.i + n)?;
        let mut v = 0u32;
        for &c in s {
            if !c.is_ascii_digit() {
                return None;
            }
            v = v * 10 + u32::from(c - b'0');
        }
        self.i += n;
        Some(v)
    }
    /// One or two digits (day of month with or without padding).
    fn digits_1_2(&mut self) -> Option<u32> {
        let a = self.digits(1)?;
        match self.peek() {
            Some(c) if c.is_ascii_digit() => {
                self.i += 1;
                Some(a * 10 + u32::from(c - b'0'))
            }
            _ => Some(a),
        }
    }
    fn spaces(&mut self) -> usize {
        let start = self.i;
        while self.peek() == Some(b' ') {
            self.i += 1;
        }
        self.i - start
    }
    /// `HH:MM:SS` (or `HH.MM.SS` when `dot` is allowed).
    fn hms(&mut self, dot: bool) -> Option<(u32, u32, u32)> {
        let h = self.digits(2)?;
        let sep = self.eat_any(if dot { b":." } else { b":" })?;
        let m = self.digits(2)?;
        if !self.eat(sep) {
            return None;
        }
        let s = self.digits(2)?;
        Some((h, m, s))
    }
    /// Optional `.fff` / `,fff` fraction, any number of digits; returns milliseconds.
    fn fraction(&mut self) -> u32 {
        let save = self.i;
        if self.eat_any(b".,").is_none() {
            return 0;
        }
        let start = self.i;
        while matches!(self.peek(), Some(c) if c.is_ascii_digit()) {
            self.i += 1;
        }
        let digits = &self.b[start..self.i];
        if digits.is_empty() {
            self.i = save;
            return 0;
        }
        let mut ms = 0u32;
        for k in 0..3 {
            ms = ms * 10 + digits.get(k).map_or(0, |c| u32::from(c - b'0'));
        }
        ms
    }
    /// Optional zone: `Z`, `±HH:MM`, `±HHMM`, `±HH`; returns the offset in ms to subtract.
    fn zone(&mut self) -> i64 {
        if self.eat(b'Z') || self.eat(b'z') {
            return 0;
        }
        let save = self.i;
        let sign = match self.eat_any(b"+-") {
            Some(b'+') => 1,
            Some(_) => -1,
            None => return 0,
        };
        let Some(h) = self.digits(2) else {
            self.i = save;
            return 0;
        };
        self.eat(b':');
        let m = self.digits(2).unwrap_or(0);
        if h > 14 || m > 59 {
            self.i = save;
            return 0;
        }
        sign * (i64::from(h) * MS_HOUR + i64::from(m) * MS_MIN)
    }
    /// True when the cursor is at the end or at a byte that cannot continue a timestamp.
    fn at_boundary(&self) -> bool {
        self.peek().is_none_or(|c| !c.is_ascii_alphanumeric())
    }
}

/// Parses a timestamp at the start of `s`. Returns `(epoch_ms, bytes_consumed)`.
///
/// Shapes: ISO 8601 and its variants (`2015-10-18 18:01:47,978`, `2024-01-02T03:04:05.6+02:00`,
/// BGL `2005-06-03-15.42.50.675872`, `2005.06.03`), `17/06/09 20:10:40`, `081109 203615`,
/// `Jun 14 15:16:01` (year from `year`), `Sun Dec 04 04:47:44 2005`,
/// `10/Oct/2000:13:55:36 -0700`, and 10- or 13-digit epoch numbers.
pub fn parse_prefix(s: &str, year: i32) -> Option<(i64, usize)> {
    let b = s.as_bytes();
    let first = *b.first()?;
    if first.is_ascii_digit() {
        iso(b)
            .or_else(|| short_date(b))
            .or_else(|| access(b))
            .or_else(|| compact(b))
            .or_else(|| epoch(b))
    } else if first.is_ascii_alphabetic() {
        bsd(b, year).or_else(|| ctime(b))
    } else {
        None
    }
}

/// `YYYY-MM-DD[T| |-]HH:MM:SS[.fff][zone]`, also with `/` or `.` date separators; date alone ok.
fn iso(b: &[u8]) -> Option<(i64, usize)> {
    let mut c = Cur::new(b);
    let y = c.digits(4)?;
    let sep = c.eat_any(b"-/.")?;
    let mo = c.digits(2)?;
    if !c.eat(sep) {
        return None;
    }
    let d = c.digits(2)?;
    let date_end = c.i;
    let t_sep = c.eat_any(b"T -");
    let time = t_sep.and_then(|_| c.hms(true));
    let Some((h, mi, se)) = time else {
        c.i = date_end;
        if !c.at_boundary() {
            return None;
        }
        return to_ms(i64::from(y), mo, d, 0, 0, 0, 0).map(|ms| (ms, date_end));
    };
    let frac = c.fraction();
    let after_time = c.i;
    // A zone may follow directly or after one space (`... 12:00:00 +0000`).
    let mut off = c.zone();
    if c.i == after_time && c.peek() == Some(b' ') {
        c.i += 1;
        let z = c.i;
        off = c.zone();
        if c.i == z {
            c.i = after_time;
        }
    }
    if !c.at_boundary() {
        return None;
    }
    to_ms(i64::from(y), mo, d, h, mi, se, frac).map(|ms| (ms - off, c.i))
}

/// `yy/MM/dd HH:MM:SS` (Spark).
fn short_date(b: &[u8]) -> Option<(i64, usize)> {
    let mut c = Cur::new(b);
    let y = c.digits(2)?;
    c.eat(b'/').then_some(())?;
    let mo = c.digits(2)?;
    c.eat(b'/').then_some(())?;
    let d = c.digits(2)?;
    c.eat(b' ').then_some(())?;
    let (h, mi, s) = c.hms(false)?;
    let frac = c.fraction();
    c.at_boundary().then_some(())?;
    to_ms(2000 + i64::from(y), mo, d, h, mi, s, frac).map(|ms| (ms, c.i))
}

/// `yyMMdd HHmmss` (HDFS).
fn compact(b: &[u8]) -> Option<(i64, usize)> {
    let mut c = Cur::new(b);
    let y = c.digits(2)?;
    let mo = c.digits(2)?;
    let d = c.digits(2)?;
    c.eat(b' ').then_some(())?;
    let h = c.digits(2)?;
    let mi = c.digits(2)?;
    let s = c.digits(2)?;
    c.at_boundary().then_some(())?;
    to_ms(2000 + i64::from(y), mo, d, h, mi, s, 0).map(|ms| (ms, c.i))
}

/// `dd/Mon/YYYY:HH:MM:SS ±zzzz` (common log format).
fn access(b: &[u8]) -> Option<(i64, usize)> {
    let mut c = Cur::new(b);
    let d = c.digits_1_2()?;
    c.eat(b'/').then_some(())?;
    let mo = month(b.get(c.i..)?)?;
    c.i += 3;
    c.eat(b'/').then_some(())?;
    let y = c.digits(4)?;
    c.eat(b':').then_some(())?;
    let (h, mi, s) = c.hms(false)?;
    let frac = c.fraction();
    let after = c.i;
    c.spaces();
    let z = c.i;
    let off = c.zone();
    if c.i == z {
        c.i = after;
    }
    c.at_boundary().then_some(())?;
    to_ms(i64::from(y), mo, d, h, mi, s, frac).map(|ms| (ms - off, c.i))
}

/// 10-digit epoch seconds or 13-digit epoch milliseconds.
fn epoch(b: &[u8]) -> Option<(i64, usize)> {
    let n = b.iter().take_while(|c| c.is_ascii_digit()).count();
    let mut c = Cur::new(b);
    c.i = n;
    if !c.at_boundary() {
        return None;
    }
    let s = std::str::from_utf8(&b[..n]).ok()?;
    let v: i64 = s.parse().ok()?;
    // 2000-01-01 ..= 2100-01-01, to avoid mistaking ordinary numbers for instants.
    const LO: i64 = 946_684_800;
    const HI: i64 = 4_102_444_800;
    match n {
        10 if (LO..HI).contains(&v) => Some((v * MS_SEC, n)),
        13 if (LO * MS_SEC..HI * MS_SEC).contains(&v) => Some((v, n)),
        _ => None,
    }
}

/// `Mon dd HH:MM:SS[.fff] [YYYY]` (BSD syslog); `year` fills the missing year.
fn bsd(b: &[u8], year: i32) -> Option<(i64, usize)> {
    let mo = month(b)?;
    let mut c = Cur::new(b);
    c.i = 3;
    if c.spaces() == 0 {
        return None;
    }
    let d = c.digits_1_2()?;
    if c.spaces() == 0 {
        return None;
    }
    let (h, mi, s) = c.hms(false)?;
    let frac = c.fraction();
    c.at_boundary().then_some(())?;
    let mut y = i64::from(year);
    let save = c.i;
    if c.eat(b' ') {
        match c.digits(4) {
            Some(v) if c.at_boundary() => y = i64::from(v),
            _ => c.i = save,
        }
    }
    to_ms(y, mo, d, h, mi, s, frac).map(|ms| (ms, c.i))
}

/// `Www Mon dd HH:MM:SS[.ffffff] YYYY` (ctime, Apache error log).
fn ctime(b: &[u8]) -> Option<(i64, usize)> {
    let mut c = Cur::new(b);
    let dow = b.get(..3)?;
    if !dow.iter().all(u8::is_ascii_alphabetic) {
        return None;
    }
    c.i = 3;
    if c.spaces() == 0 {
        return None;
    }
    let mo = month(b.get(c.i..)?)?;
    c.i += 3;
    if c.spaces() == 0 {
        return None;
    }
    let d = c.digits_1_2()?;
    c.spaces();
    let (h, mi, s) = c.hms(false)?;
    let frac = c.fraction();
    c.eat(b' ').then_some(())?;
    let y = c.digits(4)?;
    c.at_boundary().then_some(())?;
    to_ms(i64::from(y), mo, d, h, mi, s, frac).map(|ms| (ms, c.i))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn years_of_instants() {
        let day = MS_DAY;
        for (ms, year) in [
            (0, 1970),
            (-1, 1969),
            (19_723 * day, 2024),           // 2024-01-01T00:00
            (19_723 * day - 1, 2023),       // 2023-12-31T23:59:59.999
            (20_088 * day + day / 2, 2024), // 2024-12-31T12:00
        ] {
            assert_eq!(year_of_ms(ms), year, "{ms}");
        }
    }

    fn p(s: &str) -> Option<(i64, usize)> {
        parse_prefix(s, 2024)
    }

    #[test]
    fn civil() {
        assert_eq!(days_from_civil(1970, 1, 1), 0);
        assert_eq!(days_from_civil(2000, 3, 1), 11_017);
    }

    #[test]
    fn shapes() {
        assert_eq!(p("1970-01-01T00:00:01Z x"), Some((1000, 20)));
        assert_eq!(p("1970-01-01 00:00:01,250 INFO"), Some((1250, 23)));
        assert_eq!(p("1970-01-01T02:00:00+02:00"), Some((0, 25)));
        assert_eq!(
            p("1970-01-01T00:00:00.5 +0100"),
            Some((500 - 3_600_000, 27))
        );
        assert_eq!(p("2005-06-03-15.42.50.675872 R02").map(|x| x.1), Some(26));
        assert_eq!(p("2005.06.03 R02"), Some((1_117_756_800_000, 10)));
        assert_eq!(p("17/06/09 20:10:40 INFO"), Some((1_497_039_040_000, 17)));
        assert_eq!(p("081109 203615 148"), Some((1_226_262_975_000, 13)));
        assert_eq!(
            p("10/Oct/2000:13:55:36 -0700]"),
            Some((971_211_336_000, 26))
        );
        assert_eq!(p("1117838570 2005"), Some((1_117_838_570_000, 10)));
        assert_eq!(p("Jun 14 15:16:01 combo").map(|x| x.1), Some(15));
        assert_eq!(
            p("Jun  4 15:16:01 2005 combo"),
            Some((1_117_898_161_000, 20))
        );
        assert_eq!(
            p("Sun Dec 04 04:47:44 2005]"),
            Some((1_133_671_664_000, 24))
        );
        assert_eq!(p("12345 foo"), None);
        assert_eq!(p("2024-13-01"), None);
        assert_eq!(p("Junk 14"), None);
        assert_eq!(p(""), None);
    }
}
