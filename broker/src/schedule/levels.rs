//! `messageDelayLevel`: whitespace-separated durations, one per level (level 1 first), each a
//! non-negative integer followed by `s`, `m`, `h` or `d` (Apache's `parseDelayLevel`).

use std::fmt;

/// Why a `messageDelayLevel` value cannot be used.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DelayLevelError {
    /// No level at all.
    Empty,
    /// Item `item` (level `level`) is not `<number><s|m|h|d>`, or its duration overflows.
    BadItem { level: usize, item: String },
}

impl fmt::Display for DelayLevelError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DelayLevelError::Empty => write!(f, "messageDelayLevel is empty: at least one level is needed"),
            DelayLevelError::BadItem { level, item } => write!(
                f,
                "messageDelayLevel level {level} `{item}`: expected a non-negative number followed by s, m, h or d (e.g. `5s`, `2m`, `1h`, `1d`)"
            ),
        }
    }
}

impl std::error::Error for DelayLevelError {}

/// Milliseconds of one unit letter.
fn unit_millis(unit: char) -> Option<i64> {
    match unit {
        's' => Some(1_000),
        'm' => Some(60_000),
        'h' => Some(3_600_000),
        'd' => Some(86_400_000),
        _ => None,
    }
}

/// Parses `spec` into the delay of each level in milliseconds; index 0 is level 1.
pub fn parse_delay_levels(spec: &str) -> Result<Vec<i64>, DelayLevelError> {
    let levels = spec
        .split_whitespace()
        .enumerate()
        .map(|(i, item)| {
            let bad = || DelayLevelError::BadItem {
                level: i + 1,
                item: item.to_owned(),
            };
            let unit = item.chars().last().ok_or_else(bad)?;
            let factor = unit_millis(unit).ok_or_else(bad)?;
            let number = &item[..item.len() - unit.len_utf8()];
            // Digits only: no sign, no fraction, no empty number.
            if number.is_empty() || !number.bytes().all(|b| b.is_ascii_digit()) {
                return Err(bad());
            }
            number
                .parse::<i64>()
                .ok()
                .and_then(|n| n.checked_mul(factor))
                .ok_or_else(bad)
        })
        .collect::<Result<Vec<i64>, _>>()?;
    if levels.is_empty() {
        return Err(DelayLevelError::Empty);
    }
    Ok(levels)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_levels_parse() {
        let levels =
            parse_delay_levels("1s 5s 10s 30s 1m 2m 3m 4m 5m 6m 7m 8m 9m 10m 20m 30m 1h 2h")
                .unwrap();
        assert_eq!(levels.len(), 18);
        assert_eq!(levels[0], 1_000);
        assert_eq!(levels[4], 60_000);
        assert_eq!(levels[16], 3_600_000);
        assert_eq!(levels[17], 7_200_000);
    }

    #[test]
    fn every_unit_and_extra_whitespace() {
        assert_eq!(
            parse_delay_levels("  2s\t3m 4h\n1d 0s ").unwrap(),
            vec![2_000, 180_000, 14_400_000, 86_400_000, 0]
        );
    }

    #[test]
    fn bad_items_are_rejected_with_their_level() {
        for (spec, level, item) in [
            ("1s 5x", 2, "5x"),
            ("s", 1, "s"),
            ("1s -5s", 2, "-5s"),
            ("1.5s", 1, "1.5s"),
            ("10", 1, "10"),
            ("1s 2s 99999999999999999d", 3, "99999999999999999d"),
            ("1S", 1, "1S"),
            ("1é", 1, "1é"),
        ] {
            let err = parse_delay_levels(spec).unwrap_err();
            assert_eq!(
                err,
                DelayLevelError::BadItem {
                    level,
                    item: item.into()
                },
                "{spec}"
            );
            assert!(err.to_string().contains(item), "{err}");
        }
    }

    #[test]
    fn empty_is_rejected() {
        assert_eq!(parse_delay_levels(""), Err(DelayLevelError::Empty));
        assert_eq!(parse_delay_levels("   "), Err(DelayLevelError::Empty));
        assert!(parse_delay_levels(" ")
            .unwrap_err()
            .to_string()
            .contains("empty"));
    }
}
