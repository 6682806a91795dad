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
    // Colours only for a terminal: a journal or a log file would keep the escape codes.
    // A log line that cannot be written (stderr is a file on a full disk) is dropped: by
    // default tracing-subscriber reports that with eprintln!, which panics on the same full
    // disk and took leaf down with it.
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .log_internal_errors(false)
        .with_writer(std::io::stderr);
    // try_init: a second call (tests) keeps the first subscriber instead of panicking.
    let _ = match format {
        LogFormat::Text => builder.try_init(),
        LogFormat::Json => builder.json().try_init(),
    };
}
