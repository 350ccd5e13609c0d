//! `mqnamesrv`: see [`sluice_nameserver::cli`].

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    sluice_nameserver::cli::main()
}
