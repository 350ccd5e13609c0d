//! `mqcontroller`: see [`sluice_controller::cli`].

fn main() -> std::process::ExitCode {
    sluice_controller::cli::main()
}
