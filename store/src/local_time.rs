//! Broken-down local time via `libc::localtime_r`, for the two places RocketMQ uses the broker's local
//! time zone: index file names (`yyyyMMddHHmmssSSS`) and the `deleteWhen` hour check.

/// Calendar fields of an instant in the local time zone.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LocalTime {
    pub year: i32,
    /// 1..=12
    pub month: u32,
    pub day: u32,
    pub hour: u32,
    pub minute: u32,
    pub second: u32,
    pub millis: u32,
}

impl LocalTime {
    /// Converts epoch milliseconds; falls back to UTC if the C library cannot convert.
    pub fn from_millis(epoch_ms: i64) -> LocalTime {
        let secs = epoch_ms.div_euclid(1000) as libc::time_t;
        let millis = epoch_ms.rem_euclid(1000) as u32;
        // SAFETY: `tm` is a plain C struct for which all-zero is a valid value.
        let mut tm: libc::tm = unsafe { std::mem::zeroed() };
        // SAFETY: both pointers refer to live stack values for the duration of the call;
        // localtime_r is the re-entrant variant and keeps no reference to them.
        let converted = unsafe { !libc::localtime_r(&secs, &mut tm).is_null() };
        if !converted {
            // SAFETY: as above, for the UTC variant.
            unsafe { libc::gmtime_r(&secs, &mut tm) };
        }
        LocalTime {
            year: tm.tm_year + 1900,
            month: (tm.tm_mon + 1) as u32,
            day: tm.tm_mday as u32,
            hour: tm.tm_hour as u32,
            minute: tm.tm_min as u32,
            second: tm.tm_sec as u32,
            millis,
        }
    }

    /// `yyyyMMddHHmmssSSS`, as `UtilAll.timeMillisToHumanString`.
    pub fn human_string(&self) -> String {
        format!(
            "{:04}{:02}{:02}{:02}{:02}{:02}{:03}",
            self.year, self.month, self.day, self.hour, self.minute, self.second, self.millis
        )
    }
}

/// Milliseconds since the Unix epoch by the system clock.
pub fn now_millis() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn human_string_has_seventeen_digits_and_keeps_millis() {
        let s = LocalTime::from_millis(1_700_000_000_123).human_string();
        assert_eq!(s.len(), 17);
        assert!(s.bytes().all(|b| b.is_ascii_digit()));
        assert!(s.ends_with("123"));
        assert!(s.starts_with("2023"));
    }
}
