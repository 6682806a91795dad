use std::process::ExitCode;
use std::time::Duration;

use clap::Parser;
use leaf::config::Config;

fn main() -> ExitCode {
    let config = Config::parse();
    leaf::telemetry::init(config.log_format);
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("leaf: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(leaf::app::run(config));
    // Everything was stopped in order by `run`; this only bounds stragglers.
    runtime.shutdown_timeout(Duration::from_millis(200));
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            // One line a TD can act on; `{:#}` joins the causes with ": ".
            eprintln!("leaf: {e:#}");
            ExitCode::FAILURE
        }
    }
}
