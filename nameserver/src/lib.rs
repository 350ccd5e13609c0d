//! `sluice-nameserver`: the route table behind `mqnamesrv`.
//!
//! Map: [`config`] (`namesrv.conf`), [`route`] (the route table and liveness), [`kv`] (KV
//! config, persisted), [`processor`] (one file per request family), [`server`] (the embeddable
//! [`NameServer`]), [`cli`] (the `mqnamesrv` command line).

pub mod cli;
pub mod config;
pub mod error;
pub mod kv;
pub mod processor;
pub mod route;
pub mod server;
pub mod state;

pub use config::NamesrvConfig;
pub use error::{NamesrvError, Result};
pub use server::NameServer;
