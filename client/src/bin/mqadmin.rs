//! `mqadmin`: the admin command line. Prints what the command printed, or the error on stderr
//! with exit status 1.

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

use std::io::Write;
use std::process::ExitCode;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.is_empty() {
        eprintln!("usage: mqadmin <command> [options]; mqadmin --help lists the commands");
        return ExitCode::FAILURE;
    }
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("mqadmin: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let mut out = String::new();
    let result = runtime.block_on(sluice_client::admin::cli::run(&args, &mut out));
    let _ = std::io::stdout().write_all(out.as_bytes());
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            let text = e.to_string();
            eprintln!("{}", text.trim_end());
            ExitCode::FAILURE
        }
    }
}
