//! Wall-clock timestamps as the API shows them: RFC 3339 in UTC with second
//! precision (`2024-05-01T12:00:00Z`), plus the `2024-05-01 12:00:00` form
//! that BIRD (and so birdwatcher and Alice-LG) uses.
//!
//! Hand-written rather than pulling in chrono: the API only ever needs UTC
//! and whole seconds, which is the civil-from-days algorithm below.

use std::borrow::Cow;
use std::fmt;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use schemars::{JsonSchema, Schema, SchemaGenerator, json_schema};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A point in time, whole seconds since the Unix epoch, shown as RFC 3339 UTC.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Timestamp(pub u64);

impl Timestamp {
    /// The current wall-clock time.
    pub fn now() -> Self {
        Self::from(SystemTime::now())
    }

    /// Seconds since the Unix epoch.
    pub fn unix_seconds(self) -> u64 {
        self.0
    }

    /// `self + d`, saturating.
    pub fn after(self, d: Duration) -> Self {
        Timestamp(self.0.saturating_add(d.as_secs()))
    }

    /// Seconds from `self` until `later` (0 if `later` is earlier).
    pub fn seconds_until(self, later: Timestamp) -> u64 {
        later.0.saturating_sub(self.0)
    }

    /// BIRD's `YYYY-MM-DD hh:mm:ss` form (UTC), as birdwatcher passes it on.
    pub fn bird_format(self) -> String {
        let c = Civil::from_unix(self.0);
        format!(
            "{:04}-{:02}-{:02} {:02}:{:02}:{:02}",
            c.year, c.month, c.day, c.hour, c.minute, c.second
        )
    }

    /// Parses `YYYY-MM-DDThh:mm:ssZ` (the form this crate writes).
    pub fn parse_rfc3339(s: &str) -> Option<Self> {
        let b = s.as_bytes();
        if b.len() != 20 || b[4] != b'-' || b[7] != b'-' || b[10] != b'T' || b[13] != b':' {
            return None;
        }
        if b[16] != b':' || b[19] != b'Z' {
            return None;
        }
        let num = |r: std::ops::Range<usize>| -> Option<u64> {
            let part = s.get(r)?;
            if !part.bytes().all(|c| c.is_ascii_digit()) {
                return None;
            }
            part.parse().ok()
        };
        let c = Civil {
            year: i64::try_from(num(0..4)?).ok()?,
            month: u32::try_from(num(5..7)?).ok()?,
            day: u32::try_from(num(8..10)?).ok()?,
            hour: u32::try_from(num(11..13)?).ok()?,
            minute: u32::try_from(num(14..16)?).ok()?,
            second: u32::try_from(num(17..19)?).ok()?,
        };
        if !(1..=12).contains(&c.month) || !(1..=31).contains(&c.day) {
            return None;
        }
        if c.hour > 23 || c.minute > 59 || c.second > 59 {
            return None;
        }
        let t = c.to_unix()?;
        // Reject dates such as 02-31 that normalise to another day.
        (Civil::from_unix(t) == c).then_some(Timestamp(t))
    }
}

impl From<SystemTime> for Timestamp {
    fn from(t: SystemTime) -> Self {
        // A clock before 1970 is a broken clock; show the epoch rather than fail.
        Timestamp(t.duration_since(UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0))
    }
}

impl fmt::Display for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let c = Civil::from_unix(self.0);
        write!(
            f,
            "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}Z",
            c.year, c.month, c.day, c.hour, c.minute, c.second
        )
    }
}

impl Serialize for Timestamp {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Timestamp {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = Cow::<str>::deserialize(d)?;
        Timestamp::parse_rfc3339(&s).ok_or_else(|| {
            serde::de::Error::custom(format!("invalid timestamp {s:?}, expected RFC 3339 UTC"))
        })
    }
}

impl JsonSchema for Timestamp {
    fn schema_name() -> Cow<'static, str> {
        "Timestamp".into()
    }
    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({
            "type": "string",
            "format": "date-time",
            "description": "RFC 3339 UTC, whole seconds",
        })
    }
}

#[derive(Debug, PartialEq, Eq)]
struct Civil {
    year: i64,
    month: u32,
    day: u32,
    hour: u32,
    minute: u32,
    second: u32,
}

impl Civil {
    // Howard Hinnant's days-from-civil / civil-from-days, in u64/i64 arithmetic.
    fn from_unix(t: u64) -> Civil {
        let days = i64::try_from(t / 86_400).unwrap_or(i64::MAX / 2);
        let rem = t % 86_400;
        let z = days + 719_468;
        let era = z.div_euclid(146_097);
        let doe = z.rem_euclid(146_097);
        let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
        let mp = (5 * doy + 2) / 153;
        let day = doy - (153 * mp + 2) / 5 + 1;
        let month = if mp < 10 { mp + 3 } else { mp - 9 };
        let year = yoe + era * 400 + i64::from(month <= 2);
        Civil {
            year,
            month: u32::try_from(month).unwrap_or(1),
            day: u32::try_from(day).unwrap_or(1),
            hour: u32::try_from(rem / 3600).unwrap_or(0),
            minute: u32::try_from(rem % 3600 / 60).unwrap_or(0),
            second: u32::try_from(rem % 60).unwrap_or(0),
        }
    }

    fn to_unix(&self) -> Option<u64> {
        let y = self.year - i64::from(self.month <= 2);
        let era = y.div_euclid(400);
        let yoe = y.rem_euclid(400);
        let m = i64::from(self.month);
        let mp = if m > 2 { m - 3 } else { m + 9 };
        let doy = (153 * mp + 2) / 5 + i64::from(self.day) - 1;
        let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
        let days = era * 146_097 + doe - 719_468;
        let secs = days * 86_400
            + i64::from(self.hour) * 3600
            + i64::from(self.minute) * 60
            + i64::from(self.second);
        u64::try_from(secs).ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_instants_format() {
        assert_eq!(Timestamp(0).to_string(), "1970-01-01T00:00:00Z");
        // 2000-02-29 (leap day) 12:34:56 UTC.
        assert_eq!(Timestamp(951_827_696).to_string(), "2000-02-29T12:34:56Z");
        assert_eq!(Timestamp(951_827_696).bird_format(), "2000-02-29 12:34:56");
        assert_eq!(Timestamp(1_700_000_000).to_string(), "2023-11-14T22:13:20Z");
    }

    #[test]
    fn parse_round_trips_and_rejects_garbage() {
        for t in [0u64, 951_827_696, 1_700_000_000, 4_102_444_799] {
            let s = Timestamp(t).to_string();
            assert_eq!(Timestamp::parse_rfc3339(&s), Some(Timestamp(t)), "{s}");
        }
        for bad in [
            "",
            "2023-02-31T00:00:00Z",
            "2023-11-14 22:13:20Z",
            "2023-11-14T25:00:00Z",
            "abcd",
        ] {
            assert_eq!(Timestamp::parse_rfc3339(bad), None, "{bad}");
        }
    }
}
