//! `mqnamesrv` as a binary of this package, so integration tests can find it through
//! `CARGO_BIN_EXE_it-mqnamesrv`. Arguments and exit status are the real entry point's.

fn main() -> impl std::process::Termination {
    sluice_nameserver::cli::main()
}
