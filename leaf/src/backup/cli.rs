//! `leaf backup --to PATH`, `leaf backup --verify PATH` and `leaf restore --from PATH`: what
//! they print, and how they reach the log.
//!
//! A running leaf holds its data dir's lock. `leaf backup` beside it signs in to the
//! nats-server that leaf supervises, with what leaf wrote for it in the data dir (readable by
//! the same user only), and opens leaf.db as `leaf td` does; on a stopped leaf it takes the
//! lock and runs the data dir's nats-server itself for the time of the backup.

use anyhow::{Context, bail};

use super::format::Manifest;
use crate::config::{BackupArgs, Config, RestoreArgs};
use crate::datadir::{DataDir, DataDirError};
use crate::log::{JetStreamLog, ServerKind, supervisor};
use crate::store::Store;
use crate::world::{SystemWorld, World, rfc3339_millis};

pub async fn backup(args: BackupArgs, config: &Config) -> anyhow::Result<()> {
    if let Some(path) = args.verify {
        let checked = path.clone();
        let manifest = tokio::task::spawn_blocking(move || super::verify(&checked))
            .await
            .context("the check was interrupted")??;
        println!(
            "{} is a whole backup: {}",
            path.display(),
            summary(&manifest)
        );
        return Ok(());
    }
    let Some(to) = args.to else {
        bail!("say where the backup goes (--to PATH), or which one to check (--verify PATH)");
    };
    // Beside a running leaf, the backup is the one that waits for the CPU.
    // SAFETY: setpriority(2) on this process only; a failure leaves the priority as it was.
    unsafe {
        libc::setpriority(libc::PRIO_PROCESS, 0, 10);
    }
    let data_dir = &config.data_dir;
    let database = data_dir.join(super::format::DATABASE);
    if !database.is_file() {
        bail!(
            "{} holds no leaf data (no {}); point --data-dir at the data dir to back up",
            data_dir.display(),
            database.display()
        );
    }
    let now = rfc3339_millis(SystemWorld.now());
    let store = Store::open(&database).await?;
    let taken = match DataDir::open(data_dir) {
        // Stopped: this process runs the data dir's log for the time of the backup.
        Ok(dir) => {
            let (log, child) = crate::app::start_nats(config, &dir, None).await?;
            let taken = super::take(&log, &store, dir.root(), &to, now).await;
            log.drain().await;
            if let Some(child) = child {
                child.stop().await;
            }
            taken
        }
        Err(DataDirError::InUse { .. }) => {
            let log = connect_to_running(config).await?;
            let taken = super::take(&log, &store, data_dir, &to, now).await;
            log.drain().await;
            taken
        }
        Err(e) => return Err(e.into()),
    };
    store.close().await;
    let taken = taken?;
    println!(
        "backed up {} into {} in {:.1} s: {}",
        data_dir.display(),
        taken.path.display(),
        taken.took.as_secs_f64(),
        summary(&taken.manifest)
    );
    Ok(())
}

/// The log of the leaf running on `config`'s data dir.
async fn connect_to_running(config: &Config) -> anyhow::Result<JetStreamLog> {
    let (url, auth) = match &config.nats_url {
        Some(url) => (
            url.clone(),
            config
                .nats_token
                .clone()
                .map_or(crate::log::NatsAuth::None, crate::log::NatsAuth::Token),
        ),
        None => running_server(&config.data_dir.join("nats")).await?,
    };
    JetStreamLog::connect(&url, auth, ServerKind::External)
        .await
        .with_context(|| format!("cannot reach the running leaf's nats-server at {url}"))
}

/// The running leaf's nats-server; tried for a few seconds, since leaf rewrites what names it
/// while it restarts the server.
async fn running_server(
    nats_dir: &std::path::Path,
) -> anyhow::Result<(String, crate::log::NatsAuth)> {
    let mut tries = 0;
    loop {
        match supervisor::running_server(nats_dir) {
            Ok(found) => return Ok(found),
            Err(e) if tries >= 10 => bail!(
                "a leaf runs on this data dir, but its nats-server cannot be found: {e} (a leaf on --nats-url needs the same flag here)"
            ),
            Err(_) => tries += 1,
        }
        tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    }
}

pub async fn restore(args: RestoreArgs, config: &Config) -> anyhow::Result<()> {
    let restored =
        super::restore(&args.from, &config.data_dir, config.nats_server.as_deref()).await?;
    if restored.ids_dropped > 0 {
        println!(
            "{} messages repeated the message id of an earlier one; they were restored without it",
            restored.ids_dropped
        );
    }
    println!(
        "restored {} into {} in {:.1} s: {}; start leaf with --data-dir {}",
        args.from.display(),
        config.data_dir.display(),
        restored.took.as_secs_f64(),
        summary(&restored.manifest),
        config.data_dir.display()
    );
    Ok(())
}

fn summary(manifest: &Manifest) -> String {
    let streams: Vec<String> = manifest
        .streams
        .iter()
        .map(|s| format!("{} {} messages", s.name, s.messages))
        .collect();
    format!(
        "{}, {:.1} MB, taken at {} by leaf {}",
        streams.join(", "),
        manifest.bytes() as f64 / 1e6,
        manifest.taken_at,
        manifest.leaf_version
    )
}
