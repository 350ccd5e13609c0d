//! Free loopback ports.
//!
//! A port is "free" when the harness can bind it right now; the OS may hand it to someone else
//! before the child binds it, which is rare enough on a test machine (the child then fails to
//! start and the error says so).

use std::net::{Ipv4Addr, SocketAddrV4, TcpListener};

use crate::error::{HarnessError, Result};

fn bindable(port: u16) -> bool {
    TcpListener::bind(SocketAddrV4::new(Ipv4Addr::LOCALHOST, port)).is_ok()
}

/// One free port on 127.0.0.1.
pub fn free_port() -> Result<u16> {
    let listener = TcpListener::bind(SocketAddrV4::new(Ipv4Addr::LOCALHOST, 0))
        .map_err(|e| HarnessError::io("binding 127.0.0.1:0 to find a free port", e))?;
    let port = listener
        .local_addr()
        .map_err(|e| HarnessError::io("reading the local address of a probe socket", e))?
        .port();
    Ok(port)
}

/// A broker listen port `p` such that `p - 2` (the "fast"/VIP port a RocketMQ broker also opens)
/// and `p + 1` (the HA port) are free too.
pub fn free_broker_port() -> Result<u16> {
    for _ in 0..200 {
        let port = free_port()?;
        if !(1026..=65533).contains(&port) {
            continue;
        }
        if bindable(port - 2) && bindable(port + 1) {
            return Ok(port);
        }
    }
    Err(HarnessError::new(
        "no free port p with p-2 and p+1 also free on 127.0.0.1 after 200 tries",
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn broker_port_leaves_room_for_fast_and_ha_ports() {
        let port = free_broker_port().unwrap();
        assert!(bindable(port));
        assert!(bindable(port - 2));
        assert!(bindable(port + 1));
    }
}
