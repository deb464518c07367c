//! Value types of the language: durations, regressions, thresholds.

use std::fmt;

use serde::{Deserialize, Deserializer, de};

/// A duration such as `"90s"` or `"1h30m"`, held in milliseconds.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Duration {
    pub millis: u64,
}

impl Duration {
    pub fn from_millis(millis: u64) -> Self {
        Duration { millis }
    }

    /// Parses `1500ms`, `90s`, `30m`, `1h30m`, `2d`: units largest first, each once.
    pub fn parse(text: &str) -> Option<Duration> {
        const UNITS: [(&str, u64); 5] = [
            ("d", 86_400_000),
            ("h", 3_600_000),
            ("m", 60_000),
            ("s", 1_000),
            ("ms", 1),
        ];
        let mut rest = text;
        let mut total: u64 = 0;
        let mut next_unit = 0usize;
        if rest.is_empty() {
            return None;
        }
        while !rest.is_empty() {
            let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
            if digits == 0 {
                return None;
            }
            let number: u64 = rest[..digits].parse().ok()?;
            rest = &rest[digits..];
            let unit_len = rest.bytes().take_while(u8::is_ascii_alphabetic).count();
            let unit = &rest[..unit_len];
            rest = &rest[unit_len..];
            let index = UNITS.iter().position(|(u, _)| *u == unit)?;
            if index < next_unit {
                return None;
            }
            next_unit = index + 1;
            total = total.checked_add(number.checked_mul(UNITS[index].1)?)?;
        }
        Some(Duration { millis: total })
    }

    pub fn as_secs(&self) -> u64 {
        self.millis / 1000
    }
}

impl fmt::Display for Duration {
    /// The canonical form: `1h30m`, `90s` → `1m30s`, `1500ms` → `1s500ms`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.millis == 0 {
            return f.write_str("0s");
        }
        let mut rest = self.millis;
        for (unit, size) in [
            ("d", 86_400_000),
            ("h", 3_600_000),
            ("m", 60_000),
            ("s", 1_000),
            ("ms", 1),
        ] {
            if rest >= size {
                write!(f, "{}{unit}", rest / size)?;
                rest %= size;
            }
        }
        Ok(())
    }
}

impl<'de> Deserialize<'de> for Duration {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        Duration::parse(&text)
            .ok_or_else(|| de::Error::custom(format!("invalid duration {text:?}")))
    }
}

/// A relative regression such as `"1%"`, held as a fraction (0.01).
#[derive(Clone, Copy, Debug, PartialEq, PartialOrd)]
pub struct Regression {
    pub fraction: f64,
}

impl Regression {
    pub fn parse(text: &str) -> Option<Regression> {
        let number: f64 = text.strip_suffix('%')?.trim().parse().ok()?;
        (number.is_finite() && number >= 0.0).then_some(Regression {
            fraction: number / 100.0,
        })
    }

    pub fn percent(&self) -> f64 {
        self.fraction * 100.0
    }
}

impl fmt::Display for Regression {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let percent = (self.percent() * 1e6).round() / 1e6;
        write!(f, "{percent}%")
    }
}

impl<'de> Deserialize<'de> for Regression {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        Regression::parse(&text)
            .ok_or_else(|| de::Error::custom(format!("invalid regression {text:?}")))
    }
}

/// A guard threshold: a plain number (a rate, a count) or a duration (a latency).
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Threshold {
    Number(f64),
    Duration(Duration),
}

impl fmt::Display for Threshold {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Threshold::Number(n) => write!(f, "{n}"),
            Threshold::Duration(d) => write!(f, "{d}"),
        }
    }
}

impl<'de> Deserialize<'de> for Threshold {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw {
            Number(f64),
            Text(String),
        }
        match Raw::deserialize(deserializer)? {
            Raw::Number(n) => Ok(Threshold::Number(n)),
            Raw::Text(text) => Duration::parse(&text)
                .map(Threshold::Duration)
                .ok_or_else(|| de::Error::custom(format!("invalid threshold {text:?}"))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_parse_in_canonical_unit_order() {
        assert_eq!(Duration::parse("1h30m").unwrap().millis, 5_400_000);
        assert_eq!(Duration::parse("1500ms").unwrap().millis, 1_500);
        assert_eq!(Duration::parse("2d").unwrap().millis, 172_800_000);
        assert_eq!(Duration::parse("30m1h"), None);
        assert_eq!(Duration::parse("1h1h"), None);
        assert_eq!(Duration::parse("90"), None);
        assert_eq!(Duration::parse(""), None);
        assert_eq!(Duration::parse("99999999999999999999d"), None);
        assert_eq!(Duration::parse("90s").unwrap().to_string(), "1m30s");
    }

    #[test]
    fn regressions_are_fractions() {
        assert_eq!(Regression::parse("1%").unwrap().fraction, 0.01);
        assert_eq!(Regression::parse("0.5%").unwrap().to_string(), "0.5%");
        assert_eq!(Regression::parse("1"), None);
    }
}
