//! `mqcontroller` as a binary of this package, so failover tests can find it through
//! `CARGO_BIN_EXE_it-mqcontroller`.

fn main() -> std::process::ExitCode {
    sluice_controller::cli::main()
}
