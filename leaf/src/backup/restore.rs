//! `leaf restore`: a new data dir from a backup, whose log holds the same messages at the
//! same stream sequences, so seqs, resumes from an old `since` and idempotency keys carry on.
//!
//! The data dir is built beside its final place and renamed into it once whole, so a restore
//! cut short leaves no data dir a leaf would start on. Its nats-server batches its fsyncs (a
//! message at a time would take an fsync per message) and is stopped gracefully, which writes
//! everything out, before the rename; the leaf that then starts on the data dir runs its own
//! with `sync_interval: always` as always.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use futures_util::StreamExt;
use futures_util::stream::FuturesOrdered;

use super::format::{DATABASE, Manifest, TOKEN_KEY};
use super::take::copy_private;
use super::verify::{for_each_message, verify};
use super::{BackupError, io_error, sync_dir};
use crate::event::Seq;
use crate::log::storage::StoreLimit;
use crate::log::supervisor::{NatsBinary, NatsChild, SupervisorConfig, SyncWrites};
use crate::log::{JetStreamLog, ServerKind, StoredMessage, StreamName};

/// Publishes awaiting their ack at once.
const IN_FLIGHT: usize = 512;

/// A restore that was made.
#[derive(Debug)]
pub struct Restored {
    pub manifest: Manifest,
    pub took: Duration,
}

/// Builds the data dir `data_dir` (missing or empty) from the backup at `from`.
pub async fn restore(
    from: &Path,
    data_dir: &Path,
    nats_server: NatsBinary,
) -> Result<Restored, BackupError> {
    let begun = Instant::now();
    if !is_missing_or_empty(data_dir)? {
        return Err(BackupError::NotEmpty(data_dir.to_owned()));
    }
    let backup = from.to_owned();
    let manifest = tokio::task::spawn_blocking(move || verify(&backup))
        .await
        .map_err(|_| BackupError::Interrupted)??;
    let staging = staging_path(data_dir)?;
    let result = build(from, &manifest, &staging, nats_server).await;
    if let Err(e) = result {
        let _ = std::fs::remove_dir_all(&staging);
        return Err(e);
    }
    // An empty data dir (a mount point made for it, say) is replaced by the restored one.
    if data_dir.exists() {
        std::fs::remove_dir(data_dir).map_err(|e| io_error(data_dir, e))?;
    }
    std::fs::rename(&staging, data_dir).map_err(|e| io_error(data_dir, e))?;
    if let Some(parent) = data_dir.parent().filter(|p| !p.as_os_str().is_empty()) {
        sync_dir(parent)?;
    }
    Ok(Restored {
        manifest,
        took: begun.elapsed(),
    })
}

fn is_missing_or_empty(dir: &Path) -> Result<bool, BackupError> {
    match std::fs::read_dir(dir) {
        Ok(mut entries) => Ok(entries.next().is_none()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(true),
        Err(e) => Err(io_error(dir, e)),
    }
}

fn staging_path(data_dir: &Path) -> Result<PathBuf, BackupError> {
    let name = data_dir
        .file_name()
        .and_then(|n| n.to_str())
        .ok_or_else(|| BackupError::BadPath(data_dir.to_owned()))?;
    let parent = match data_dir.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_owned(),
        _ => PathBuf::from("."),
    };
    if !parent.is_dir() {
        return Err(BackupError::NoParent(parent));
    }
    let staging = parent.join(format!(".{name}{}{}", super::PARTIAL, std::process::id()));
    if staging.exists() {
        // Left by a restore of this same pid that was cut short: nothing in it is trusted.
        std::fs::remove_dir_all(&staging).map_err(|e| io_error(&staging, e))?;
    }
    Ok(staging)
}

async fn build(
    from: &Path,
    manifest: &Manifest,
    staging: &Path,
    nats_server: NatsBinary,
) -> Result<(), BackupError> {
    crate::datadir::create_private_dir(staging).map_err(|e| io_error(staging, e))?;
    let nats_dir = staging.join("nats");
    crate::datadir::create_private_dir(&nats_dir).map_err(|e| io_error(&nats_dir, e))?;
    // Room for what the backup holds, whatever --max-store the restored leaf later runs with.
    let room = StoreLimit::at_least(manifest.bytes().saturating_mul(2));
    let child = NatsChild::start(SupervisorConfig {
        binary: nats_server,
        dir: nats_dir,
        max_store: room,
        sync: SyncWrites::Batched,
    })
    .await
    .map_err(|e| BackupError::Restore(format!("cannot start nats-server: {e}")))?;
    let filled = fill(from, manifest, &child).await;
    child.stop().await;
    filled?;
    for name in [DATABASE, TOKEN_KEY] {
        copy_private(&from.join(name), &staging.join(name))?;
    }
    sync_dir(staging)
}

/// Publishes every message of the backup into the new streams, each at its own sequence.
async fn fill(from: &Path, manifest: &Manifest, child: &NatsChild) -> Result<(), BackupError> {
    let log = JetStreamLog::connect(
        child.client_url(),
        child.auth(),
        ServerKind::Supervised(child.status()),
    )
    .await?;
    let result = async {
        for stream in StreamName::ALL {
            fill_stream(from, manifest, &log, stream).await?;
        }
        Ok(())
    }
    .await;
    log.drain().await;
    result
}

async fn fill_stream(
    from: &Path,
    manifest: &Manifest,
    log: &JetStreamLog,
    stream: StreamName,
) -> Result<(), BackupError> {
    let part = manifest
        .stream(stream)
        .ok_or_else(|| BackupError::Damaged(format!("no stream {stream}")))?;
    if part.messages > 0 && part.first_seq != 1 {
        return Err(BackupError::Restore(format!(
            "stream {stream} begins at seq {} in the backup; leaf never removes messages, so it can only restore a stream that begins at 1",
            part.first_seq
        )));
    }
    // The file is read on a blocking thread and handed over in batches.
    let (tx, mut rx) = tokio::sync::mpsc::channel::<Vec<StoredMessage>>(4);
    let path = from.to_owned();
    let manifest = manifest.clone();
    let reader = tokio::task::spawn_blocking(move || {
        let mut batch = Vec::with_capacity(IN_FLIGHT);
        for_each_message(&path, &manifest, stream, |message| {
            batch.push(message);
            if batch.len() == IN_FLIGHT {
                tx.blocking_send(std::mem::take(&mut batch))
                    .map_err(|_| BackupError::Interrupted)?;
            }
            Ok(())
        })?;
        if !batch.is_empty() {
            tx.blocking_send(batch)
                .map_err(|_| BackupError::Interrupted)?;
        }
        Ok::<_, BackupError>(())
    });
    let mut acks = FuturesOrdered::new();
    let mut published = 0u64;
    while let Some(batch) = rx.recv().await {
        for message in batch {
            let expected = message.seq;
            let ack = log
                .publish_stored(stream, &message, Seq(expected.0 - 1))
                .await?;
            acks.push_back(async move { (expected, ack.await) });
            while acks.len() >= IN_FLIGHT {
                check_ack(stream, acks.next().await)?;
            }
            published += 1;
        }
    }
    while !acks.is_empty() {
        check_ack(stream, acks.next().await)?;
    }
    reader.await.map_err(|_| BackupError::Interrupted)??;
    if published != part.messages {
        return Err(BackupError::Restore(format!(
            "stream {stream}: {published} messages restored, the backup holds {}",
            part.messages
        )));
    }
    Ok(())
}

fn check_ack(
    stream: StreamName,
    ack: Option<(Seq, Result<Seq, crate::log::LogError>)>,
) -> Result<(), BackupError> {
    match ack {
        Some((expected, Ok(seq))) if seq == expected => Ok(()),
        Some((expected, Ok(seq))) => Err(BackupError::Restore(format!(
            "stream {stream}: message {} was stored at seq {}",
            expected.0, seq.0
        ))),
        Some((expected, Err(e))) => Err(BackupError::Restore(format!(
            "stream {stream}: message {}: {e}",
            expected.0
        ))),
        None => Ok(()),
    }
}
