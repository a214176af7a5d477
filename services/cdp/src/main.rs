use std::process::ExitCode;

use cdp::cli::Cli;
use cdp_config::{Config, LogFormat};
use clap::Parser;

fn main() -> ExitCode {
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
