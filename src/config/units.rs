//! Human-friendly units in config files: `"25MB"`, `"10 MiB"`, `"30s"`, `"5m"`.

use std::fmt;
use std::time::Duration;

use serde::{de, Deserialize, Deserializer, Serialize, Serializer};

/// Splits `"25 MB"` into 25.0 and `"MB"` (trimmed).
fn number_and_unit(s: &str) -> Option<(f64, &str)> {
    let s = s.trim();
    let split = s
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(s.len());
    let (num, unit) = s.split_at(split);
    Some((num.parse().ok()?, unit.trim()))
}

/// A byte count written as an integer or a string with a unit.
///
/// Decimal units (`kB`, `MB`, `GB`) are powers of 1000 and binary units (`KiB`, `MiB`, `GiB`)
/// powers of 1024, as in SI and IEC 80000-13; a regulation's "15 MB" means 15 000 000 bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct ByteSize(pub u64);

impl ByteSize {
    pub fn bytes(self) -> u64 {
        self.0
    }

    /// Parses `"25MB"`, `"10 MiB"`, `"512"`, `"64k"`.
    pub fn parse(s: &str) -> Result<Self, String> {
        let (num, unit) = number_and_unit(s)
            .ok_or_else(|| format!("`{s}` is not a size (write e.g. \"25MB\" or \"10MiB\")"))?;
        let mult: u64 = match unit.trim().to_ascii_lowercase().as_str() {
            "" | "b" => 1,
            "k" | "kb" => 1_000,
            "kib" => 1 << 10,
            "m" | "mb" => 1_000_000,
            "mib" => 1 << 20,
            "g" | "gb" => 1_000_000_000,
            "gib" => 1 << 30,
            other => {
                return Err(format!(
                    "unknown size unit `{other}` in `{s}` (use B, kB, MB, GB, KiB, MiB, GiB)"
                ))
            }
        };
        Ok(ByteSize((num * mult as f64).round() as u64))
    }
}

impl fmt::Display for ByteSize {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let b = self.0;
        if b >= 1_000_000 && b.is_multiple_of(1_000_000) {
            write!(f, "{} MB", b / 1_000_000)
        } else if b >= 1 << 20 && b.is_multiple_of(1 << 20) {
            write!(f, "{} MiB", b >> 20)
        } else if b >= 1_000_000 {
            write!(f, "{:.1} MB", b as f64 / 1e6)
        } else if b >= 1000 && b.is_multiple_of(1000) {
            write!(f, "{} kB", b / 1000)
        } else {
            write!(f, "{b} B")
        }
    }
}

impl<'de> Deserialize<'de> for ByteSize {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw {
            Int(u64),
            Str(String),
        }
        match Raw::deserialize(d)? {
            Raw::Int(n) => Ok(ByteSize(n)),
            Raw::Str(s) => ByteSize::parse(&s).map_err(de::Error::custom),
        }
    }
}

impl Serialize for ByteSize {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_u64(self.0)
    }
}

/// A duration written as `"300s"`, `"5m"`, `"250ms"`, `"1h"` or `"1d"`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Span(pub Duration);

impl Span {
    pub fn get(self) -> Duration {
        self.0
    }

    pub fn secs(secs: u64) -> Self {
        Span(Duration::from_secs(secs))
    }

    pub fn parse(s: &str) -> Result<Self, String> {
        let (num, unit) = number_and_unit(s)
            .ok_or_else(|| format!("`{s}` is not a duration (write e.g. \"30s\" or \"5m\")"))?;
        let secs = match unit.trim() {
            "ms" => num / 1000.0,
            "s" | "" => num,
            "m" => num * 60.0,
            "h" => num * 3600.0,
            "d" => num * 86400.0,
            other => {
                return Err(format!(
                    "unknown duration unit `{other}` in `{s}` (use ms, s, m, h, d)"
                ))
            }
        };
        Ok(Span(Duration::from_secs_f64(secs)))
    }
}

impl fmt::Display for Span {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?}", self.0)
    }
}

impl<'de> Deserialize<'de> for Span {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Span::parse(&s).map_err(de::Error::custom)
    }
}

impl Serialize for Span {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&format!("{}ms", self.0.as_millis()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_follow_si_and_iec() {
        assert_eq!(ByteSize::parse("15MB").unwrap().0, 15_000_000);
        assert_eq!(ByteSize::parse("10 MiB").unwrap().0, 10 << 20);
        assert_eq!(ByteSize::parse("512").unwrap().0, 512);
        assert!(ByteSize::parse("12 parsecs").is_err());
    }

    #[test]
    fn spans_accept_common_units() {
        assert_eq!(Span::parse("300s").unwrap().0, Duration::from_secs(300));
        assert_eq!(Span::parse("5m").unwrap().0, Duration::from_secs(300));
        assert_eq!(Span::parse("250ms").unwrap().0, Duration::from_millis(250));
        assert!(Span::parse("soon").is_err());
    }
}
