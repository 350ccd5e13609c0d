//! `mqcontroller`: see [`sluice_controller::cli`].

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    sluice_controller::cli::main()
}
