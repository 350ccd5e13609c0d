//! `mqbroker` as a binary of this package, so integration tests can find it through
//! `CARGO_BIN_EXE_it-mqbroker`.
//!
//! THE single place that names the broker's entry point: when the broker crate lands, this is the
//! line to check against its actual `cli` module.

fn main() -> impl std::process::Termination {
    sluice_broker::cli::main()
}
