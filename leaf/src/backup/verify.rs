//! Checking a backup before trusting it: `leaf backup --verify`, and the first step of every
//! restore. Blocking: it reads every byte.

use std::fs::File;
use std::io::{BufRead, BufReader};
use std::path::Path;

use super::format::{self, FORMAT, MANIFEST, Manifest, MessageLine, VERSION};
use super::{BackupError, io_error};
use crate::log::{StoredMessage, StreamName};

/// The manifest of the whole, undamaged backup at `path`.
pub fn verify(path: &Path) -> Result<Manifest, BackupError> {
    let manifest = read_manifest(path)?;
    for file in &manifest.files {
        let file_path = path.join(&file.name);
        let opened = File::open(&file_path).map_err(|e| match e.kind() {
            std::io::ErrorKind::NotFound => {
                BackupError::Damaged(format!("{} is missing", file.name))
            }
            _ => io_error(&file_path, e),
        })?;
        let (bytes, sha256) = format::digest(opened).map_err(|e| io_error(&file_path, e))?;
        if bytes != file.bytes || sha256 != file.sha256 {
            return Err(BackupError::Damaged(format!(
                "{} has {bytes} bytes with SHA-256 {sha256}; the manifest says {} bytes with {}",
                file.name, file.bytes, file.sha256
            )));
        }
    }
    for stream in StreamName::ALL {
        for_each_message(path, &manifest, stream, |_| Ok(()))?;
    }
    Ok(manifest)
}

/// `manifest.json`, checked to be one this leaf reads.
pub fn read_manifest(path: &Path) -> Result<Manifest, BackupError> {
    let manifest_path = path.join(MANIFEST);
    let text = std::fs::read(&manifest_path).map_err(|e| match e.kind() {
        std::io::ErrorKind::NotFound => BackupError::NotABackup(path.to_owned()),
        _ => io_error(&manifest_path, e),
    })?;
    #[derive(serde::Deserialize)]
    struct Header {
        format: String,
        version: u32,
    }
    let header: Header =
        serde_json::from_slice(&text).map_err(|_| BackupError::NotABackup(path.to_owned()))?;
    if header.format != FORMAT {
        return Err(BackupError::NotABackup(path.to_owned()));
    }
    if header.version > VERSION {
        return Err(BackupError::NewerFormat {
            found: header.version,
            supported: VERSION,
        });
    }
    let manifest: Manifest = serde_json::from_slice(&text)
        .map_err(|e| BackupError::Damaged(format!("{MANIFEST}: {e}")))?;
    for stream in StreamName::ALL {
        if manifest.stream(stream).is_none()
            || manifest.file(&format::stream_file(stream)).is_none()
        {
            return Err(BackupError::Damaged(format!(
                "{MANIFEST} lists no stream {stream}"
            )));
        }
    }
    for name in [format::DATABASE, format::TOKEN_KEY] {
        if manifest.file(name).is_none() {
            return Err(BackupError::Damaged(format!("{MANIFEST} lists no {name}")));
        }
    }
    Ok(manifest)
}

/// Calls `each` with every message of `stream`, in order, checking as it goes that each line
/// reads, belongs to the stream and follows the last, with no gap (leaf never deletes a
/// message), and that they add up to what the manifest says.
pub fn for_each_message(
    path: &Path,
    manifest: &Manifest,
    stream: StreamName,
    mut each: impl FnMut(StoredMessage) -> Result<(), BackupError>,
) -> Result<(), BackupError> {
    let part = manifest
        .stream(stream)
        .ok_or_else(|| BackupError::Damaged(format!("{MANIFEST} lists no stream {stream}")))?;
    let name = format::stream_file(stream);
    let file_path = path.join(&name);
    let file = File::open(&file_path).map_err(|e| io_error(&file_path, e))?;
    let mut count = 0u64;
    let mut last = 0u64;
    for (n, line) in BufReader::new(file).lines().enumerate() {
        let line = line.map_err(|e| io_error(&file_path, e))?;
        let damaged = |what: String| BackupError::Damaged(format!("{name} line {}: {what}", n + 1));
        let message = serde_json::from_str::<MessageLine>(&line)
            .map_err(|e| damaged(e.to_string()))?
            .into_message()
            .map_err(damaged)?;
        let expected = if count == 0 { part.first_seq } else { last + 1 };
        if message.seq.0 != expected {
            return Err(damaged(format!(
                "seq {} where {expected} was due",
                message.seq.0
            )));
        }
        if !belongs(stream, &message.subject) {
            return Err(damaged(format!(
                "subject {} is not one of stream {stream}",
                message.subject
            )));
        }
        last = message.seq.0;
        count += 1;
        each(message)?;
    }
    if count != part.messages || (count > 0 && last != part.last_seq) {
        return Err(BackupError::Damaged(format!(
            "{name} holds {count} messages up to seq {last}; the manifest says {} up to {}",
            part.messages, part.last_seq
        )));
    }
    Ok(())
}

/// Whether `subject` is one `stream` takes: `tournament.<id>.state.<type>` or
/// `tournament.<id>.audit`.
fn belongs(stream: StreamName, subject: &str) -> bool {
    let tokens: Vec<&str> = subject.split('.').collect();
    let fine = |t: &&str| !t.is_empty() && !t.contains(['*', '>', ' ']);
    match stream {
        StreamName::State => {
            tokens.len() == 4
                && tokens[0] == "tournament"
                && tokens[2] == "state"
                && tokens.iter().all(fine)
        }
        StreamName::Audit => {
            tokens.len() == 3
                && tokens[0] == "tournament"
                && tokens[2] == "audit"
                && tokens.iter().all(fine)
        }
    }
}
