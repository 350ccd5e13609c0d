//! `mqadmin`: the admin command line (`sluice_client::admin::cli::main`). Prints what the
//! command printed, or the error on stderr with exit status 1.

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    sluice_client::admin::cli::main()
}
