//! SIGINT and SIGTERM: the first asks for a graceful shutdown, a second forces the exit.

use tokio::signal::unix::{SignalKind, signal};
use tokio_util::sync::CancellationToken;

/// Exit code of a forced exit: 128 + SIGINT, as shells report an interrupted program.
const FORCED_EXIT: i32 = 130;

/// A token cancelled at the first SIGINT or SIGTERM. A second signal exits at once; the
/// nats-server child then dies with leaf (see `log::supervisor`).
pub fn shutdown_on_signals() -> std::io::Result<CancellationToken> {
    let mut interrupt = signal(SignalKind::interrupt())?;
    let mut terminate = signal(SignalKind::terminate())?;
    let token = CancellationToken::new();
    let fired = token.clone();
    tokio::spawn(async move {
        let name = tokio::select! {
            _ = interrupt.recv() => "SIGINT",
            _ = terminate.recv() => "SIGTERM",
        };
        tracing::info!(
            signal = name,
            "shutting down; send the signal again to force"
        );
        fired.cancel();
        let name = tokio::select! {
            _ = interrupt.recv() => "SIGINT",
            _ = terminate.recv() => "SIGTERM",
        };
        tracing::warn!(signal = name, "second signal: exiting now");
        std::process::exit(FORCED_EXIT);
    });
    Ok(token)
}
