//! `restorer`: restore Aerospike `.asb` backups (see DESIGN §3).

use clap::Parser as _;

/// Records are allocated on the parse thread and freed on the writer's threads; mimalloc
/// handles that cross-thread pattern without the arena-lock contention of glibc malloc.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() {
    // Configuration files (astools.conf) become arguments in front of the real ones.
    let args = match restorer::config_file::expand_args(std::env::args_os().collect()) {
        Ok(a) => a,
        Err(e) => {
            eprintln!("error: {e}");
            std::process::exit(1);
        }
    };
    let cli = match restorer::cli::Cli::try_parse_from(args) {
        Ok(cli) => cli,
        Err(e) => {
            let _ = e.print();
            // Help and version go to stdout with status 0; usage errors are failures (1).
            std::process::exit(if e.use_stderr() { 1 } else { 0 });
        }
    };
    restorer::report::init_logging(cli.log_format, cli.verbose);
    let code = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt.block_on(restorer::app::run(cli)),
        Err(e) => {
            eprintln!("cannot start the async runtime: {e}");
            1
        }
    };
    std::process::exit(code);
}
