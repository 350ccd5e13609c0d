//! Black-box test harness: starts real `mqnamesrv` / `mqbroker` processes on free loopback ports,
//! each with its own temporary directory, and talks to them over raw Remoting frames.
//!
//! The binaries under test are thin wrappers defined in this package (`src/bin/it-mqnamesrv.rs`,
//! `src/bin/it-mqbroker.rs`) because Cargo only exposes `CARGO_BIN_EXE_*` for a package's own
//! binaries. Integration tests name them with [`nameserver_bin!`] and [`broker_bin!`].
//!
//! Every process is killed (SIGKILL) and its directory removed when its handle is dropped, so a
//! failing test leaves nothing behind.

pub mod cluster;
pub mod docker;
pub mod error;
pub mod netns;
pub mod ports;
pub mod process;
pub mod raw;

pub use cluster::{BrokerProcess, BrokerSpec, Cluster, ControllerProcess, NameServerProcess};
pub use error::HarnessError;
pub use process::ServerProcess;
pub use raw::{RawConnection, RawFrame};

/// Path of the NameServer wrapper binary; usable only from this package's integration tests
/// built with the `nameserver` feature.
#[macro_export]
macro_rules! nameserver_bin {
    () => {
        env!("CARGO_BIN_EXE_it-mqnamesrv")
    };
}

/// Path of the controller wrapper binary; usable only from this package's integration tests
/// built with the `broker` feature.
#[macro_export]
macro_rules! controller_bin {
    () => {
        env!("CARGO_BIN_EXE_it-mqcontroller")
    };
}

/// Path of the broker wrapper binary; usable only from this package's integration tests built
/// with the `broker` feature.
#[macro_export]
macro_rules! broker_bin {
    () => {
        env!("CARGO_BIN_EXE_it-mqbroker")
    };
}
