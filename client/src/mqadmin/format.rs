//! Printf-style helpers and the date format Apache's tools print.

/// `yyyy-MM-dd HH:mm:ss,SSS` in UTC (Apache prints local time; a server has no single one).
pub fn format_millis(ms: i64) -> String {
    let secs = ms.div_euclid(1000);
    let milli = ms.rem_euclid(1000);
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    let (y, m, d) = civil_from_days(days);
    format!(
        "{y:04}-{m:02}-{d:02} {:02}:{:02}:{:02},{milli:03}",
        rem / 3600,
        (rem / 60) % 60,
        rem % 60
    )
}

/// Days since 1970-01-01 to (year, month, day), proleptic Gregorian (H. Hinnant's algorithm).
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

/// (year, month, day) to days since 1970-01-01.
fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y.rem_euclid(400);
    let m = m as i64;
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + d as i64 - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// The store time a UNIQ_KEY carries: its 4-byte field counts milliseconds since the start of
/// the month the id was made in (UTC here); like Apache, a span that lands in the future means
/// the previous month.
pub fn uniq_id_time(id: &str, now_ms: i64) -> Option<i64> {
    let ip_hex = match id.len() {
        32 => 8,
        56 => 32,
        _ => return None,
    };
    let start = ip_hex + 4 + 8;
    let span = u32::from_str_radix(id.get(start..start + 8)?, 16).ok()? as i64;
    let (y, m, _) = civil_from_days(now_ms.div_euclid(86_400_000));
    let month_start = days_from_civil(y, m, 1) * 86_400_000;
    if month_start + span < now_ms {
        return Some(month_start + span);
    }
    let (py, pm) = if m == 1 { (y - 1, 12) } else { (y, m - 1) };
    Some(days_from_civil(py, pm, 1) * 86_400_000 + span)
}

/// Parses `resetOffsetByTime -s`: `now`, epoch milliseconds, or `yyyy-MM-dd#HH:mm:ss:SSS` (UTC).
pub fn parse_timestamp(text: &str, now_ms: i64) -> Option<i64> {
    if text == "now" {
        return Some(now_ms);
    }
    if let Ok(ms) = text.parse::<i64>() {
        return Some(ms);
    }
    let (date, time) = text.split_once('#')?;
    let mut d = date.split('-').map(str::parse::<i64>);
    let (y, mo, da) = (d.next()?.ok()?, d.next()?.ok()?, d.next()?.ok()?);
    let mut t = time.split(':').map(str::parse::<i64>);
    let (h, mi, s, ms) = (
        t.next()?.ok()?,
        t.next()?.ok()?,
        t.next()?.ok()?,
        t.next()?.ok()?,
    );
    if !(1..=12).contains(&mo) || !(1..=31).contains(&da) || h > 23 || mi > 59 || s > 59 || ms > 999
    {
        return None;
    }
    let days = days_from_civil(y, mo as u32, da as u32);
    Some(((days * 86_400 + h * 3600 + mi * 60 + s) * 1000) + ms)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_round_trip() {
        assert_eq!(format_millis(0), "1970-01-01 00:00:00,000");
        assert_eq!(format_millis(1_700_000_000_123), "2023-11-14 22:13:20,123");
        let ms = parse_timestamp("2023-11-14#22:13:20:123", 0).unwrap();
        assert_eq!(ms, 1_700_000_000_123);
        assert_eq!(parse_timestamp("now", 42), Some(42));
        assert_eq!(parse_timestamp("1700000000000", 0), Some(1_700_000_000_000));
        assert_eq!(parse_timestamp("2023-13-01#00:00:00:000", 0), None);
        assert_eq!(parse_timestamp("yesterday", 0), None);
    }

    #[test]
    fn uniq_id_time_is_counted_from_the_month_start() {
        let now = parse_timestamp("2026-11-21#10:00:00:000", 0).unwrap();
        // 0x05265C00 ms = 86,400,000 = one day after the month start.
        let id = "7F0000010001AABBCCDD05265C000001";
        let t = uniq_id_time(id, now).unwrap();
        assert_eq!(format_millis(t), "2026-11-02 00:00:00,000");
        // A span past `now` belongs to the previous month.
        let late = "7F0000010001AABBCCDD7FFFFFFF0001";
        assert!(uniq_id_time(late, now).unwrap() < now);
        assert_eq!(uniq_id_time("short", now), None);
    }
}
