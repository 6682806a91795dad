use std::process::ExitCode;
use std::time::Duration;

use clap::Parser;
use leaf::config::{Cli, Command, LogFormat};

fn main() -> ExitCode {
    let cli = Cli::parse();
    let log_format = match cli.command {
        // Subcommands talk to a person on stdout; only problems go to the log.
        Some(_) => LogFormat::Text,
        None => cli.config.log_format,
    };
    leaf::telemetry::init(log_format, cli.command.is_some());
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
    // A restore hands what it makes to the owner of its target itself; checking a backup
    // touches no data dir.
    let touches_data_dir = !matches!(
        &cli.command,
        Some(Command::Restore(_))
            | Some(Command::Backup(leaf::config::BackupArgs {
                verify: Some(_),
                ..
            }))
    );
    if touches_data_dir && let Err(e) = leaf::datadir::check_owner(&cli.config.data_dir) {
        eprintln!("leaf: {e}");
        return ExitCode::FAILURE;
    }
    let result = runtime.block_on(async {
        match cli.command {
            Some(Command::Td(td)) => leaf::td::run(td, &cli.config.data_dir).await,
            Some(Command::Backup(args)) => leaf::backup::cli::backup(args, &cli.config).await,
            Some(Command::Restore(args)) => leaf::backup::cli::restore(args, &cli.config).await,
            Some(Command::Tls(leaf::config::TlsCommand::SelfSigned(args))) => {
                leaf::tls::self_signed::run(args, &cli.config.data_dir).await
            }
            Some(Command::Uplink(leaf::config::UplinkCommand::Status)) => {
                leaf::uplink::cli::status(&cli.config).await
            }
            None => leaf::app::run(cli.config).await,
        }
    });
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
