//! `leaf restore`: a new data dir from a backup, whose log holds the same messages at the
//! same stream sequences, so seqs, resumes from an old `since` and idempotency keys carry on.
//!
//! The data dir is built beside its final place and renamed into it once whole, so a restore
//! cut short leaves no data dir a leaf would start on. Its nats-server batches its writes (an
//! fsync per message would take an hour a million); once it has stopped, leaf fsyncs every
//! file it wrote, starts it again to see that the streams come back as the backup says, and
//! only then puts the data dir in place. The leaf that then starts on it runs its own server
//! with `sync_interval: always`, as always.
//!
//! What differs from the original log: the time each message was stored (now the restore's;
//! the backup keeps the originals, and every record carries its own `ts`), the guards it was
//! published with (`Nats-Expected-…`, replaced by the restore's own), and the message id of a
//! message whose id an earlier message already had (JetStream would take it for a retry).

use std::collections::HashSet;
use std::hash::BuildHasher;
use std::os::unix::fs::MetadataExt;
use std::path::Path;
use std::time::{Duration, Instant};

use futures_util::StreamExt;
use futures_util::stream::FuturesOrdered;

use super::format::{DATABASE, HashingReader, Manifest, TOKEN_KEY};
use super::take::create_private;
use super::verify::{for_each_message, matches_manifest, open_part, verify};
use super::{BackupError, Staging, io_error, name_of, parent_of, rename_new, sync_dir};
use crate::event::Seq;
use crate::log::storage::StoreLimit;
use crate::log::supervisor::{self, NatsBinary, NatsChild, SupervisorConfig, SyncWrites};
use crate::log::{JetStreamLog, ServerKind, StoredMessage, StreamName};

/// Publishes awaiting their ack at once.
const IN_FLIGHT: usize = 512;
const MSG_ID: &str = "Nats-Msg-Id";

/// A restore that was made.
#[derive(Debug)]
pub struct Restored {
    pub manifest: Manifest,
    pub took: Duration,
    /// Messages restored without their repeated message id.
    pub ids_dropped: u64,
}

/// Builds the data dir `data_dir` (missing, or an empty directory) from the backup at `from`.
pub async fn restore(
    from: &Path,
    data_dir: &Path,
    nats_server: Option<&Path>,
) -> Result<Restored, BackupError> {
    let begun = Instant::now();
    let replaces_empty_dir = check_target(data_dir)?;
    let owner = owner_to_keep(data_dir, replaces_empty_dir)?;
    let name = name_of(data_dir)?;
    let parent = parent_of(data_dir);
    if !parent.is_dir() {
        return Err(BackupError::NoParent(parent));
    }
    let backup = from.to_owned();
    let manifest = tokio::task::spawn_blocking(move || verify(&backup))
        .await
        .map_err(|_| BackupError::Interrupted)??;
    let staging = Staging::create(&parent, name)?;
    let built = async {
        // An embedded nats-server goes where leaf will look for it in the restored data dir,
        // not into /tmp, which may be mounted noexec.
        let binary = supervisor::locate(nats_server, &staging.path.join("nats").join("bin"))
            .await
            .map_err(|e| BackupError::Restore(e.to_string()))?;
        let ids_dropped = build(from, &manifest, &staging.path, binary).await?;
        if let Some((uid, gid)) = owner {
            let path = staging.path.clone();
            tokio::task::spawn_blocking(move || chown_tree(&path, uid, gid))
                .await
                .map_err(|_| BackupError::Interrupted)??;
        }
        Ok::<_, BackupError>(ids_dropped)
    };
    let ids_dropped = match built.await {
        Ok(n) => n,
        Err(e) => {
            let _ = std::fs::remove_dir_all(&staging.path);
            return Err(e);
        }
    };
    // From here on the work is done: a failure keeps it, and says where it is.
    let kept = |e: BackupError| {
        BackupError::Restore(format!(
            "the restored data dir is whole in {}, but it could not be put in place: {e}",
            staging.path.display()
        ))
    };
    staging.release_name().map_err(kept)?;
    if replaces_empty_dir {
        std::fs::remove_dir(data_dir).map_err(|e| kept(io_error(data_dir, e)))?;
    }
    rename_new(&staging.path, data_dir).map_err(kept)?;
    if let Err(e) = sync_dir(&parent) {
        tracing::warn!(error = %e, "cannot fsync the directory of the restored data dir");
    }
    Ok(Restored {
        manifest,
        took: begun.elapsed(),
        ids_dropped,
    })
}

/// `Ok(true)` for an empty directory the restore replaces, `Ok(false)` for a missing one.
/// Root restoring into an empty dir that another user owns (the packaged service's
/// `/var/lib/leaf`, made by its postinst) hands the restored tree to that user, or the service
/// could not open what root wrote. Anyone else writes their own files, which are theirs.
fn owner_to_keep(
    data_dir: &Path,
    replaces_empty_dir: bool,
) -> Result<Option<(u32, u32)>, BackupError> {
    // SAFETY: geteuid(2) cannot fail and touches no memory.
    if !replaces_empty_dir || unsafe { libc::geteuid() } != 0 {
        return Ok(None);
    }
    let meta = std::fs::metadata(data_dir).map_err(|e| io_error(data_dir, e))?;
    Ok((meta.uid() != 0).then_some((meta.uid(), meta.gid())))
}

/// Gives everything in `root` (links themselves, never what they point at) to `uid:gid`.
///
/// Deepest entries first and `root` last: until then `root` is still root's own and 0700, so
/// the new owner cannot get in and swap a directory for a link while the walk goes on (which
/// would hand it whatever the link points at).
fn chown_tree(root: &Path, uid: u32, gid: u32) -> Result<(), BackupError> {
    let mut found = Vec::new();
    let mut pending = vec![root.to_path_buf()];
    while let Some(path) = pending.pop() {
        let meta = std::fs::symlink_metadata(&path).map_err(|e| io_error(&path, e))?;
        if meta.is_dir() {
            for entry in std::fs::read_dir(&path).map_err(|e| io_error(&path, e))? {
                pending.push(entry.map_err(|e| io_error(&path, e))?.path());
            }
        }
        found.push(path);
    }
    // Parents come before their children in `found`: reversed, every child goes first.
    for path in found.iter().rev() {
        std::os::unix::fs::lchown(path, Some(uid), Some(gid)).map_err(|e| io_error(path, e))?;
    }
    Ok(())
}

fn check_target(data_dir: &Path) -> Result<bool, BackupError> {
    let meta = match std::fs::symlink_metadata(data_dir) {
        Ok(meta) => meta,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(false),
        Err(e) => return Err(io_error(data_dir, e)),
    };
    if meta.file_type().is_symlink() {
        return Err(BackupError::Restore(format!(
            "{} is a link; restore into a new directory where it points",
            data_dir.display()
        )));
    }
    let empty = meta.is_dir()
        && std::fs::read_dir(data_dir)
            .map_err(|e| io_error(data_dir, e))?
            .next()
            .is_none();
    if !empty {
        return Err(BackupError::NotEmpty(data_dir.to_owned()));
    }
    // A mount point or a link cannot be swapped for the restored directory.
    let parent = std::fs::metadata(parent_of(data_dir)).map_err(|e| io_error(data_dir, e))?;
    if meta.dev() != parent.dev() {
        return Err(BackupError::Restore(format!(
            "{} is a mount point; restore into a new directory inside it",
            data_dir.display()
        )));
    }
    Ok(true)
}

/// The whole data dir in `staging`; how many repeated message ids were dropped.
async fn build(
    from: &Path,
    manifest: &Manifest,
    staging: &Path,
    nats_server: NatsBinary,
) -> Result<u64, BackupError> {
    let nats_dir = staging.join("nats");
    crate::datadir::create_private_dir(&nats_dir).map_err(|e| io_error(&nats_dir, e))?;
    // Room for what the backup holds, whatever --max-store the restored leaf later runs with.
    let room = StoreLimit::at_least(manifest.bytes().saturating_mul(2));
    let config = |sync| SupervisorConfig {
        binary: nats_server.clone(),
        dir: nats_dir.clone(),
        max_store: room,
        sync,
        remote: None,
    };
    let child = NatsChild::start(config(SyncWrites::Batched))
        .await
        .map_err(|e| BackupError::Restore(format!("cannot start nats-server: {e}")))?;
    let filled = fill(from, manifest, &child).await;
    child.stop().await;
    let ids_dropped = filled?;
    sync_tree(&nats_dir).await?;

    // What is on disk now is what a leaf will start on: it must hold the backup.
    let child = NatsChild::start(config(SyncWrites::Always))
        .await
        .map_err(|e| BackupError::Restore(format!("cannot start nats-server again: {e}")))?;
    let checked = check_streams(manifest, &child).await;
    child.stop().await;
    checked?;
    sync_tree(&nats_dir).await?;

    for name in [DATABASE, TOKEN_KEY] {
        copy_checked(from, manifest, name, staging).await?;
    }
    sync_dir(staging)?;
    Ok(ids_dropped)
}

/// Publishes every message of the backup into the new streams, each at its own sequence.
async fn fill(from: &Path, manifest: &Manifest, child: &NatsChild) -> Result<u64, BackupError> {
    let log = connect(child).await?;
    let result = async {
        let mut dropped = 0;
        for stream in StreamName::ALL {
            dropped += fill_stream(from, manifest, &log, stream).await?;
        }
        Ok(dropped)
    }
    .await;
    log.drain().await;
    result
}

async fn connect(child: &NatsChild) -> Result<JetStreamLog, BackupError> {
    Ok(JetStreamLog::connect(
        child.client_url(),
        child.auth(),
        ServerKind::Supervised(child.status()),
    )
    .await?)
}

async fn fill_stream(
    from: &Path,
    manifest: &Manifest,
    log: &JetStreamLog,
    stream: StreamName,
) -> Result<u64, BackupError> {
    let part = manifest
        .stream(stream)
        .ok_or_else(|| BackupError::Damaged(format!("no stream {stream}")))?;
    if part.messages > 0 && part.first_seq != 1 {
        return Err(BackupError::Restore(format!(
            "stream {stream} begins at seq {} in the backup; leaf never removes messages, so it can only restore a stream that begins at 1",
            part.first_seq
        )));
    }
    // The file is read (and its checksum checked) on a blocking thread, in batches.
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
    // Message ids seen, hashed (64 bits: a collision only drops one id more).
    let hasher = std::collections::hash_map::RandomState::new();
    let mut ids = HashSet::new();
    let mut dropped = 0;
    let mut acks = FuturesOrdered::new();
    let mut published = 0u64;
    let sent = async {
        while let Some(batch) = rx.recv().await {
            for mut message in batch {
                let ids_in = message.headers.iter().filter(|(n, _)| n == MSG_ID);
                let repeated = ids_in
                    .into_iter()
                    .any(|(_, id)| !ids.insert(hasher.hash_one(id)));
                if repeated {
                    message.headers.retain(|(n, _)| n != MSG_ID);
                    dropped += 1;
                }
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
        Ok::<_, BackupError>(())
    }
    .await;
    // Stop the reader before reporting: it may be waiting to hand over a batch.
    drop(rx);
    let read = reader.await.map_err(|_| BackupError::Interrupted)?;
    sent?;
    read?;
    if published != part.messages {
        return Err(BackupError::Restore(format!(
            "stream {stream}: {published} messages restored, the backup holds {}",
            part.messages
        )));
    }
    Ok(dropped)
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

/// The restarted server holds each stream as the backup does.
async fn check_streams(manifest: &Manifest, child: &NatsChild) -> Result<(), BackupError> {
    let log = connect(child).await?;
    let result = async {
        for stream in StreamName::ALL {
            let part = manifest
                .stream(stream)
                .ok_or_else(|| BackupError::Damaged(format!("no stream {stream}")))?;
            let (messages, _, last) = log.stream_counts(stream).await?;
            if messages != part.messages || last.0 != part.last_seq {
                return Err(BackupError::Restore(format!(
                    "after a restart the restored stream {stream} holds {messages} messages up to seq {}; the backup has {} up to {}",
                    last.0, part.messages, part.last_seq
                )));
            }
        }
        Ok(())
    }
    .await;
    log.drain().await;
    result
}

/// Copies one of the backup's files into the data dir, checking it against the manifest.
async fn copy_checked(
    from: &Path,
    manifest: &Manifest,
    name: &str,
    staging: &Path,
) -> Result<(), BackupError> {
    let (from, manifest, name, to) = (
        from.to_owned(),
        manifest.clone(),
        name.to_owned(),
        staging.join(name),
    );
    tokio::task::spawn_blocking(move || {
        let mut source = HashingReader::new(open_part(&from, &name)?);
        let mut target = create_private(&to)?;
        std::io::copy(&mut source, &mut target).map_err(|e| io_error(&to, e))?;
        target.sync_all().map_err(|e| io_error(&to, e))?;
        let (bytes, sha256) = source.finish();
        matches_manifest(&manifest, &name, bytes, &sha256)
    })
    .await
    .map_err(|_| BackupError::Interrupted)?
}

/// fsync of every file and directory under `dir`, deepest first: nats-server writes its store
/// without, in the batched mode.
async fn sync_tree(dir: &Path) -> Result<(), BackupError> {
    let dir = dir.to_owned();
    tokio::task::spawn_blocking(move || sync_tree_blocking(&dir))
        .await
        .map_err(|_| BackupError::Interrupted)?
}

fn sync_tree_blocking(dir: &Path) -> Result<(), BackupError> {
    for entry in std::fs::read_dir(dir).map_err(|e| io_error(dir, e))? {
        let entry = entry.map_err(|e| io_error(dir, e))?;
        let path = entry.path();
        let kind = entry.file_type().map_err(|e| io_error(&path, e))?;
        if kind.is_dir() {
            sync_tree_blocking(&path)?;
        } else if kind.is_file() {
            std::fs::File::open(&path)
                .and_then(|f| f.sync_all())
                .map_err(|e| io_error(&path, e))?;
        }
    }
    sync_dir(dir)
}
