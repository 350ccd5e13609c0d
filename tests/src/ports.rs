//! Free loopback ports.
//!
//! Ports come from below the kernel's ephemeral range (`ip_local_port_range`): a port the OS hands
//! out for `bind(0)` or for an outgoing connection's source port can be taken again by any other
//! socket on the machine between the probe and the child's own bind, which happened to a broker's
//! HA port (listen port + 1) in CI. Below the range only another test choosing the very same
//! number can collide: candidates advance from a per-process random start, and each is probed.

use std::net::{Ipv4Addr, SocketAddrV4, TcpListener};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::OnceLock;

use crate::error::{HarnessError, Result};

fn bindable(port: u16) -> bool {
    TcpListener::bind(SocketAddrV4::new(Ipv4Addr::LOCALHOST, port)).is_ok()
}

/// `[low, high)`: the ports handed out, all below the ephemeral range.
fn window() -> (u32, u32) {
    static WINDOW: OnceLock<(u32, u32)> = OnceLock::new();
    *WINDOW.get_or_init(|| {
        let ephemeral_low = std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range")
            .ok()
            .and_then(|s| s.split_whitespace().next()?.parse::<u32>().ok())
            .unwrap_or(32768);
        if ephemeral_low > 12_000 {
            (10_000, ephemeral_low)
        } else {
            // An unusual range starting low: use the ports above it instead.
            (50_000, 65_000)
        }
    })
}

/// The next candidate port, `step` apart from the previous one.
fn next_candidate(step: u32) -> u32 {
    static NEXT: OnceLock<AtomicU32> = OnceLock::new();
    let next = NEXT.get_or_init(|| {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.subsec_nanos());
        AtomicU32::new(std::process::id().wrapping_mul(7919) ^ nanos)
    });
    let (low, high) = window();
    low + next.fetch_add(step, Ordering::Relaxed) % (high - low - step)
}

/// One free port on 127.0.0.1.
pub fn free_port() -> Result<u16> {
    for _ in 0..1000 {
        let port = next_candidate(1) as u16;
        if bindable(port) {
            return Ok(port);
        }
    }
    Err(HarnessError::new(
        "no free port below the ephemeral range on 127.0.0.1 after 1000 tries",
    ))
}

/// A broker listen port `p` such that `p - 2` (the "fast"/VIP port a RocketMQ broker also opens)
/// and `p + 1` (the HA port) are free too.
pub fn free_broker_port() -> Result<u16> {
    for _ in 0..1000 {
        let port = (next_candidate(4) + 2) as u16;
        if bindable(port - 2) && bindable(port) && bindable(port + 1) {
            return Ok(port);
        }
    }
    Err(HarnessError::new(
        "no free port p with p-2 and p+1 also free on 127.0.0.1 after 1000 tries",
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ports_come_from_below_the_ephemeral_range_and_differ() {
        let (low, high) = window();
        let a = free_port().unwrap();
        let b = free_port().unwrap();
        assert_ne!(a, b);
        for p in [a, b] {
            assert!(
                (low..high).contains(&u32::from(p)),
                "{p} outside {low}..{high}"
            );
        }
    }

    #[test]
    fn broker_port_leaves_room_for_fast_and_ha_ports() {
        let port = free_broker_port().unwrap();
        assert!(bindable(port));
        assert!(bindable(port - 2));
        assert!(bindable(port + 1));
    }
}
