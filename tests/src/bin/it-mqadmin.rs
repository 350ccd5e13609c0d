//! `mqadmin` as a binary of this package, so integration tests can find it through
//! `CARGO_BIN_EXE_it-mqadmin` (the docker test builds its image from the debug binaries). It runs
//! the same `sluice_client::admin::cli::main` as `client/src/bin/mqadmin.rs`.

fn main() -> std::process::ExitCode {
    sluice_client::admin::cli::main()
}
