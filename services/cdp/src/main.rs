use std::process::ExitCode;

use cdp::cli::Cli;
use cdp_config::{Config, LogFormat};
use clap::Parser;

// The ingest path allocates a great deal (parsed events, their sealed copies, SQL
// arguments) on many threads at once: with glibc's allocator a fifth of the server's CPU
// went to malloc and free, and mimalloc takes a third less CPU for the same load
// (cdp-bench overhead group: 18k to 28k requests/s into the no-op store).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    cdp_dispatcher::install_tls_provider();
    let cli = Cli::parse();
    let config = match Config::load() {
        Ok(config) => config,
        Err(e) => {
            eprintln!("cdp: {e}");
            return ExitCode::from(2);
        }
    };
    let _telemetry =
        match cdp_telemetry::init("cdp", &config.log, config.log_format == LogFormat::Json) {
            Ok(guard) => guard,
            Err(e) => {
                eprintln!("cdp: {}", cdp::error_chain(&e));
                return ExitCode::from(2);
            }
        };
    for name in Config::unknown_environment() {
        tracing::warn!(variable = %name, "ignoring an environment variable that names no setting");
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("the tokio runtime starts");
    match runtime.block_on(cdp::run(cli.command, config)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            let chain = cdp::error_chain(&e);
            tracing::error!(error = %chain, "cdp stopped");
            eprintln!("cdp: {chain}");
            ExitCode::FAILURE
        }
    }
}
