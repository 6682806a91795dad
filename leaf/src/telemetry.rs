//! Logging: `tracing` to stderr, as text for a terminal or JSON for a log collector.
//! `RUST_LOG` overrides the default level (`info`, with nats-server's own chatter at `warn`).

use tracing_subscriber::EnvFilter;

use crate::config::LogFormat;

/// `quiet`: only warnings and errors (for the offline subcommands).
pub fn init(format: LogFormat, quiet: bool) {
    let default = if quiet {
        "warn"
    } else {
        "info,nats_server=warn,async_nats=warn"
    };
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    // try_init: a second call (tests) keeps the first subscriber instead of panicking.
    let _ = match format {
        LogFormat::Text => builder.try_init(),
        LogFormat::Json => builder.json().try_init(),
    };
}
