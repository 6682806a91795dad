//! Taking a backup of a running (or stopped) leaf, without stopping its appends.
//!
//! Order matters for what a restore starts from: leaf.db is copied first (`VACUUM INTO`, on
//! a connection of its own, so leaf's own queries never wait for it), then each stream up to
//! the last message it held once leaf.db was copied. The projection in the copy is then never
//! ahead of the log in the copy, so a restored leaf starts from its checkpoint and replays the
//! rest. Messages are read in pages by direct get, which leaves nothing on the server and runs
//! beside appends; the files are written off the async runtime.

use std::fs::{self, File, OpenOptions};
use std::io::{BufWriter, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use super::format::{
    self, DATABASE, FORMAT, FilePart, Hashing, MANIFEST, Manifest, MessageLine, StreamPart,
    TOKEN_KEY, VERSION,
};
use super::steady::Steady;
use super::{BackupError, Staging, io_error, name_of, parent_of, rename_new, sync_dir};
use crate::event::Seq;
use crate::log::{JetStreamLog, StreamName};
use crate::store::Store;

/// Messages asked for per page.
const PAGE: usize = 250;

/// A backup that was taken.
#[derive(Debug)]
pub struct Taken {
    pub manifest: Manifest,
    pub path: PathBuf,
    pub took: Duration,
}

/// Writes a backup of `log` and the data dir `data_dir` into `to`, which must not exist yet.
/// `store` is a connection to the data dir's leaf.db; `now` is the RFC 3339 time it begins.
pub async fn take(
    log: &JetStreamLog,
    store: &Store,
    data_dir: &Path,
    to: &Path,
    now: String,
) -> Result<Taken, BackupError> {
    let begun = Instant::now();
    if to.exists() {
        return Err(BackupError::Exists(to.to_owned()));
    }
    let staging = staging_for(to)?;
    let result = async {
        let manifest = write_all(log, store, data_dir, &staging.path, now).await?;
        // Whatever the log held, the backup is one a restore takes, or it is no backup.
        let checked = staging.path.clone();
        tokio::task::spawn_blocking(move || super::verify::verify_paced(&checked))
            .await
            .map_err(|_| BackupError::Interrupted)??;
        staging.release_name()?;
        rename_new(&staging.path, to).map_err(|e| match e {
            BackupError::Io { source, .. }
                if source.kind() == std::io::ErrorKind::AlreadyExists =>
            {
                BackupError::Exists(to.to_owned())
            }
            other => other,
        })?;
        Ok(manifest)
    }
    .await;
    let manifest = match result {
        Ok(manifest) => manifest,
        Err(e) => {
            // What was written so far is no backup: never leave it looking like one.
            let _ = fs::remove_dir_all(&staging.path);
            return Err(e);
        }
    };
    // The backup is whole and in place; only its name might not survive a power cut yet.
    if let Err(e) = sync_dir(&parent_of(to)) {
        tracing::warn!(error = %e, "cannot fsync the directory of a new backup");
    }
    Ok(Taken {
        manifest,
        path: to.to_owned(),
        took: begun.elapsed(),
    })
}

/// A hidden sibling of `to`, on the same filesystem so the final rename is atomic.
fn staging_for(to: &Path) -> Result<Staging, BackupError> {
    let name = name_of(to)?;
    let parent = parent_of(to);
    if !parent.is_dir() {
        return Err(BackupError::NoParent(parent));
    }
    Staging::create(&parent, name)
}

async fn write_all(
    log: &JetStreamLog,
    store: &Store,
    data_dir: &Path,
    staging: &Path,
    taken_at: String,
) -> Result<Manifest, BackupError> {
    let mut files = Vec::new();

    let db = staging.join(DATABASE);
    // Made empty and private first: VACUUM INTO would make it with the umask's mode, and it
    // holds PIN hashes.
    drop(create_private(&db)?);
    store.vacuum_into(&db).await?;
    files.push(file_part(&db, DATABASE).await?);

    let key = staging.join(TOKEN_KEY);
    copy_private(&data_dir.join(TOKEN_KEY), &key)?;
    files.push(file_part(&key, TOKEN_KEY).await?);

    let mut streams = Vec::new();
    for stream in StreamName::ALL {
        let (part, file) = write_stream(log, stream, staging).await?;
        streams.push(part);
        files.push(file);
    }
    let manifest = Manifest {
        format: FORMAT.into(),
        version: VERSION,
        taken_at,
        leaf_version: env!("CARGO_PKG_VERSION").into(),
        streams,
        files,
    };
    let path = staging.join(MANIFEST);
    let mut text = serde_json::to_vec_pretty(&manifest)
        .map_err(|e| BackupError::Damaged(format!("manifest: {e}")))?;
    text.push(b'\n');
    let mut file = create_private(&path)?;
    file.write_all(&text).map_err(|e| io_error(&path, e))?;
    file.sync_all().map_err(|e| io_error(&path, e))?;
    sync_dir(staging)?;
    Ok(manifest)
}

/// Every message of `stream` up to the last it holds now, into its file.
async fn write_stream(
    log: &JetStreamLog,
    stream: StreamName,
    staging: &Path,
) -> Result<(StreamPart, FilePart), BackupError> {
    use crate::log::EventLog as _;
    let last = log.last_seq(stream).await?;
    let name = format::stream_file(stream);
    let path = staging.join(&name);
    let mut writer = Some(Hashing::new(BufWriter::new(Steady::new(create_private(
        &path,
    )?))));
    let mut part = StreamPart {
        name: stream.as_str().into(),
        messages: 0,
        first_seq: 0,
        last_seq: 0,
    };
    let mut after = Seq::ZERO;
    let mut pace = super::Pace::new(super::BACKUP_DUTY);
    while after < last {
        tokio::time::sleep(pace.rest()).await;
        let mut page = log.read_stored(stream, after, PAGE).await?;
        page.retain(|m| m.seq <= last);
        let Some(newest) = page.last() else { break };
        after = newest.seq;
        if part.first_seq == 0 {
            part.first_seq = page[0].seq.0;
        }
        part.messages += page.len() as u64;
        part.last_seq = after.0;
        let mut w = writer.take().ok_or(BackupError::Interrupted)?;
        let file = path.clone();
        writer = Some(
            tokio::task::spawn_blocking(move || {
                for message in &page {
                    serde_json::to_writer(&mut w, &MessageLine::of(message))
                        .map_err(|e| io_error(&file, e.into()))?;
                    w.write_all(b"\n").map_err(|e| io_error(&file, e))?;
                }
                Ok::<_, BackupError>(w)
            })
            .await
            .map_err(|_| BackupError::Interrupted)??,
        );
    }
    if part.last_seq != last.0 {
        return Err(BackupError::Damaged(format!(
            "stream {stream} ended at {} while it held messages up to {}",
            part.last_seq, last.0
        )));
    }
    let w = writer.ok_or(BackupError::Interrupted)?;
    let file = tokio::task::spawn_blocking(move || {
        let (buffered, bytes, sha256) = w.finish();
        let inner = buffered
            .into_inner()
            .map_err(|e| io_error(&path, e.into_error()))?;
        inner
            .into_file()
            .sync_all()
            .map_err(|e| io_error(&path, e))?;
        Ok::<_, BackupError>(FilePart {
            name,
            bytes,
            sha256,
        })
    })
    .await
    .map_err(|_| BackupError::Interrupted)??;
    Ok((part, file))
}

/// Size and checksum of a file written into the backup, synced to disk.
async fn file_part(path: &Path, name: &str) -> Result<FilePart, BackupError> {
    let path = path.to_owned();
    let name = name.to_owned();
    tokio::task::spawn_blocking(move || {
        let file = File::open(&path).map_err(|e| io_error(&path, e))?;
        file.sync_all().map_err(|e| io_error(&path, e))?;
        let (bytes, sha256) = format::digest(file).map_err(|e| io_error(&path, e))?;
        Ok(FilePart {
            name,
            bytes,
            sha256,
        })
    })
    .await
    .map_err(|_| BackupError::Interrupted)?
}

/// A new file only its owner can read: a backup holds PIN hashes and the token key.
pub(super) fn create_private(path: &Path) -> Result<File, BackupError> {
    OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .map_err(|e| io_error(path, e))
}

pub(super) fn copy_private(from: &Path, to: &Path) -> Result<(), BackupError> {
    let mut source = File::open(from).map_err(|e| io_error(from, e))?;
    let mut target = create_private(to)?;
    std::io::copy(&mut source, &mut target).map_err(|e| io_error(to, e))?;
    target.sync_all().map_err(|e| io_error(to, e))
}
