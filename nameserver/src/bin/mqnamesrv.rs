//! `mqnamesrv`: see [`sluice_nameserver::cli`].

fn main() -> std::process::ExitCode {
    sluice_nameserver::cli::main()
}
