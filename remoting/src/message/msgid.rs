//! Message identifiers: the offset msgId (where a record is) and UNIQ_KEY (the client's id).

use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher, Hasher};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, UdpSocket};
use std::sync::atomic::{AtomicI64, AtomicU32, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use crate::error::{RemotingError, Result};

const HEX: &[u8; 16] = b"0123456789ABCDEF";

/// Appends the uppercase hex of `bytes` (`UtilAll.bytes2string`).
pub fn push_hex(out: &mut String, bytes: &[u8]) {
    for b in bytes {
        out.push(HEX[(b >> 4) as usize] as char);
        out.push(HEX[(b & 0xF) as usize] as char);
    }
}

fn hex_value(c: u8) -> Option<u8> {
    match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'A'..=b'F' => Some(c - b'A' + 10),
        b'a'..=b'f' => Some(c - b'a' + 10),
        _ => None,
    }
}

/// Parses hex (either case) into `out`, which must be exactly half as long as `hex`.
fn parse_hex(hex: &[u8], out: &mut [u8]) -> Option<()> {
    if hex.len() != out.len() * 2 {
        return None;
    }
    for (pair, byte) in hex.chunks_exact(2).zip(out.iter_mut()) {
        *byte = hex_value(pair[0])? << 4 | hex_value(pair[1])?;
    }
    Some(())
}

/// The offset msgId: uppercase hex of store IP (4 or 16 bytes) + port (int32) + CommitLog
/// offset (int64); 32 chars for IPv4, 56 for IPv6. IPv4-mapped IPv6 addresses count as IPv4.
pub fn create_offset_msg_id(store_host: SocketAddr, physical_offset: i64) -> String {
    let mut out = String::with_capacity(56);
    match store_host.ip() {
        IpAddr::V4(ip) => push_hex(&mut out, &ip.octets()),
        IpAddr::V6(ip) => match ip.to_ipv4_mapped() {
            Some(v4) => push_hex(&mut out, &v4.octets()),
            None => push_hex(&mut out, &ip.octets()),
        },
    }
    push_hex(&mut out, &i32::from(store_host.port()).to_be_bytes());
    push_hex(&mut out, &physical_offset.to_be_bytes());
    out
}

/// Decodes an offset msgId (32 hex chars = IPv4, 56 = IPv6) into the store host and offset.
pub fn decode_offset_msg_id(id: &str) -> Result<(SocketAddr, i64)> {
    let bad = |why: &str| RemotingError::Body(format!("invalid offset msgId {id:?}: {why}"));
    let mut bytes = [0u8; 28];
    let len = match id.len() {
        32 => 16,
        56 => 28,
        n => return Err(bad(&format!("{n} chars, expected 32 or 56"))),
    };
    parse_hex(id.as_bytes(), &mut bytes[..len]).ok_or_else(|| bad("not hex"))?;
    let ip_len = len - 12;
    let ip = if ip_len == 4 {
        IpAddr::V4(Ipv4Addr::new(bytes[0], bytes[1], bytes[2], bytes[3]))
    } else {
        let mut o = [0u8; 16];
        o.copy_from_slice(&bytes[..16]);
        IpAddr::V6(Ipv6Addr::from(o))
    };
    let mut port = [0u8; 4];
    port.copy_from_slice(&bytes[ip_len..ip_len + 4]);
    let port = i32::from_be_bytes(port);
    let port = u16::try_from(port).map_err(|_| bad(&format!("port {port} out of range")))?;
    let mut offset = [0u8; 8];
    offset.copy_from_slice(&bytes[ip_len + 4..len]);
    Ok((SocketAddr::new(ip, port), i64::from_be_bytes(offset)))
}

/// Days since 1970-01-01 of the first day of the month holding `days` (proleptic Gregorian),
/// and of the first day of the following month.
fn month_bounds(days: i64) -> (i64, i64) {
    let (y, m, _) = civil_from_days(days);
    let start = days_from_civil(y, m, 1);
    let next = if m == 12 {
        days_from_civil(y + 1, 1, 1)
    } else {
        days_from_civil(y, m + 1, 1)
    };
    (start, next)
}

// Howard Hinnant's civil-calendar algorithms.
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

fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y.rem_euclid(400);
    let m = i64::from(m);
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + i64::from(d) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

const DAY_MS: i64 = 86_400_000;

/// Start of the (UTC) month holding `now_ms`, and start of the next one, in epoch ms.
fn month_start_ms(now_ms: i64) -> (i64, i64) {
    let (start, next) = month_bounds(now_ms.div_euclid(DAY_MS));
    (start * DAY_MS, next * DAY_MS)
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

/// Generates UNIQ_KEY values like `MessageClientIDSetter`: uppercase hex of client IP (4 or 16
/// bytes) + pid low 16 bits + a per-generator random int (Java uses a class-loader hash) +
/// milliseconds since the start of the current month (UTC here) + a 16-bit counter.
/// 32 chars for IPv4, 56 for IPv6. Thread-safe and lock-free.
#[derive(Debug)]
pub struct UniqIdGenerator {
    /// Hex of IP + pid + per-generator hash, the same for every id.
    prefix: String,
    month_start: AtomicI64,
    next_month_start: AtomicI64,
    counter: AtomicU32,
}

impl UniqIdGenerator {
    /// A generator for ids that name `ip` as the client address.
    pub fn new(ip: IpAddr) -> Self {
        let mut seed = RandomState::new().build_hasher();
        seed.write_u32(std::process::id());
        seed.write_i64(now_ms());
        let per_process = seed.finish() as u32;
        let mut prefix = String::with_capacity(56);
        match ip {
            IpAddr::V4(v4) => push_hex(&mut prefix, &v4.octets()),
            IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
                Some(v4) => push_hex(&mut prefix, &v4.octets()),
                None => push_hex(&mut prefix, &v6.octets()),
            },
        }
        push_hex(&mut prefix, &(std::process::id() as u16).to_be_bytes());
        push_hex(&mut prefix, &per_process.to_be_bytes());
        let (start, next) = month_start_ms(now_ms());
        Self {
            prefix,
            month_start: AtomicI64::new(start),
            next_month_start: AtomicI64::new(next),
            counter: AtomicU32::new(0),
        }
    }

    /// A generator for this host's outbound IPv4 address (found by routing a UDP socket, nothing
    /// is sent), falling back to 127.0.0.1.
    pub fn for_local_host() -> Self {
        Self::new(local_ip().unwrap_or(IpAddr::V4(Ipv4Addr::LOCALHOST)))
    }

    /// The next id.
    pub fn next(&self) -> String {
        let now = now_ms();
        if now >= self.next_month_start.load(Ordering::Relaxed) {
            // Racing threads compute the same values; the stores are idempotent.
            let (start, next) = month_start_ms(now);
            self.month_start.store(start, Ordering::Relaxed);
            self.next_month_start.store(next, Ordering::Relaxed);
        }
        let mut diff = (now - self.month_start.load(Ordering::Relaxed)) as i32;
        if diff < 0 && diff > -1_000_000 {
            // The clock stepped back (NTP) across a month start.
            diff = 0;
        }
        let count = self.counter.fetch_add(1, Ordering::Relaxed) as u16;
        let mut id = String::with_capacity(self.prefix.len() + 12);
        id.push_str(&self.prefix);
        push_hex(&mut id, &diff.to_be_bytes());
        push_hex(&mut id, &count.to_be_bytes());
        id
    }
}

fn local_ip() -> Option<IpAddr> {
    let socket = UdpSocket::bind((Ipv4Addr::UNSPECIFIED, 0)).ok()?;
    // connect() on UDP only consults the routing table.
    socket.connect((Ipv4Addr::new(192, 0, 2, 1), 9)).ok()?;
    let ip = socket.local_addr().ok()?.ip();
    (!ip.is_unspecified()).then_some(ip)
}

/// The client IP encoded in a UNIQ_KEY (32 hex chars → IPv4, 56 → IPv6).
pub fn uniq_id_ip(id: &str) -> Result<IpAddr> {
    let bad = || RemotingError::Body(format!("invalid UNIQ_KEY {id:?}"));
    let mut bytes = [0u8; 16];
    match id.len() {
        32 => {
            parse_hex(&id.as_bytes()[..8], &mut bytes[..4]).ok_or_else(bad)?;
            Ok(IpAddr::V4(Ipv4Addr::new(
                bytes[0], bytes[1], bytes[2], bytes[3],
            )))
        }
        56 => {
            parse_hex(&id.as_bytes()[..32], &mut bytes).ok_or_else(bad)?;
            Ok(IpAddr::V6(Ipv6Addr::from(bytes)))
        }
        _ => Err(bad()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn offset_msg_id_matches_hand_computed() {
        let host: SocketAddr = "10.0.0.5:10911".parse().unwrap();
        // 0A000005 + 00002A9F (10911) + 0000000000001F40 (8000)
        let id = create_offset_msg_id(host, 8000);
        assert_eq!(id, "0A00000500002A9F0000000000001F40");
        assert_eq!(decode_offset_msg_id(&id).unwrap(), (host, 8000));
        assert_eq!(
            decode_offset_msg_id(&id.to_lowercase()).unwrap(),
            (host, 8000)
        );
    }

    #[test]
    fn offset_msg_id_ipv6_is_56_chars() {
        let host: SocketAddr = "[2001:db8::1]:10911".parse().unwrap();
        let id = create_offset_msg_id(host, i64::MAX);
        assert_eq!(id.len(), 56);
        assert_eq!(
            id,
            "20010DB800000000000000000000000100002A9F7FFFFFFFFFFFFFFF"
        );
        assert_eq!(decode_offset_msg_id(&id).unwrap(), (host, i64::MAX));
        let mapped: SocketAddr = "[::ffff:10.0.0.5]:10911".parse().unwrap();
        assert_eq!(create_offset_msg_id(mapped, 8000).len(), 32);
    }

    #[test]
    fn offset_msg_id_rejects_garbage() {
        for bad in [
            "",
            "0A00000500002A9F0000000000001F4",
            "0A00000500002A9F0000000000001F4G",
            "0A000005FFFFFFFF0000000000001F40",
            "é0000005FFFFFFFF0000000000001F4",
        ] {
            assert!(decode_offset_msg_id(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn month_start_is_utc_first_of_month() {
        // 2026-11-21T10:02:30Z = 1795255350000 ms; 2026-11-01T00:00:00Z = 1793491200000.
        let (start, next) = month_start_ms(1_795_255_350_000);
        assert_eq!(start, 1_793_491_200_000);
        // 2026-12-01T00:00:00Z
        assert_eq!(next, 1_796_083_200_000);
        // Leap February: 2024-02-29T12:00Z → 2024-02-01 and 2024-03-01.
        let (s, n) = month_start_ms(1_709_208_000_000);
        assert_eq!(s, 1_706_745_600_000);
        assert_eq!(n, 1_709_251_200_000);
        assert_eq!(month_start_ms(0), (0, 31 * DAY_MS));
    }

    #[test]
    fn uniq_ids_are_distinct_and_carry_the_ip() {
        let ip: IpAddr = "192.168.1.20".parse().unwrap();
        let gen = UniqIdGenerator::new(ip);
        let a = gen.next();
        let b = gen.next();
        assert_eq!(a.len(), 32);
        assert_ne!(a, b);
        assert!(a.starts_with("C0A80114"));
        assert!(a.bytes().all(|c| HEX.contains(&c)));
        // Same prefix, counter advanced by one.
        assert_eq!(a[..20], b[..20]);
        let ca = u16::from_str_radix(&a[28..], 16).unwrap();
        let cb = u16::from_str_radix(&b[28..], 16).unwrap();
        assert_eq!(cb, ca.wrapping_add(1));
        assert_eq!(uniq_id_ip(&a).unwrap(), ip);

        let v6: IpAddr = "2001:db8::7".parse().unwrap();
        let id = UniqIdGenerator::new(v6).next();
        assert_eq!(id.len(), 56);
        assert_eq!(uniq_id_ip(&id).unwrap(), v6);
    }

    #[test]
    fn uniq_ids_unique_across_threads() {
        let gen = std::sync::Arc::new(UniqIdGenerator::new("10.1.2.3".parse().unwrap()));
        let handles: Vec<_> = (0..4)
            .map(|_| {
                let gen = gen.clone();
                std::thread::spawn(move || (0..1000).map(|_| gen.next()).collect::<Vec<_>>())
            })
            .collect();
        let mut all = std::collections::HashSet::new();
        for h in handles {
            for id in h.join().unwrap() {
                assert!(all.insert(id));
            }
        }
        assert_eq!(all.len(), 4000);
    }
}
