//! `restorer`: restore Aerospike `.asb` backups (see DESIGN §3).

use clap::Parser as _;

fn main() {
    let cli = restorer::cli::Cli::parse();
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
