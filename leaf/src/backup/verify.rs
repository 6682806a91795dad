//! Checking a backup before trusting it: `leaf backup --verify`, and the first step of every
//! restore. Blocking: it reads every byte.

use std::fs::File;
use std::io::{BufRead, BufReader};
use std::path::Path;

use super::format::{self, FORMAT, HashingReader, MANIFEST, Manifest, MessageLine, VERSION};
use super::{BackupError, io_error};
use crate::log::{StoredMessage, StreamName};

/// The manifest of the whole, undamaged backup at `path`.
pub fn verify(path: &Path) -> Result<Manifest, BackupError> {
    verify_with(path, None)
}

/// [`verify`], resting between pages ([`super::VERIFY_DUTY`]): the check of a backup just
/// taken beside a running leaf.
pub(super) fn verify_paced(path: &Path) -> Result<Manifest, BackupError> {
    verify_with(path, Some(super::Pace::new(super::VERIFY_DUTY)))
}

fn verify_with(path: &Path, mut pace: Option<super::Pace>) -> Result<Manifest, BackupError> {
    let manifest = read_manifest(path)?;
    for name in [format::DATABASE, format::TOKEN_KEY] {
        let file_path = path.join(name);
        let opened = open_part(path, name)?;
        let (bytes, sha256) = format::digest(opened).map_err(|e| io_error(&file_path, e))?;
        matches_manifest(&manifest, name, bytes, &sha256)?;
    }
    // The stream files are checked as they are read.
    for stream in StreamName::ALL {
        let mut read = 0u32;
        for_each_message(path, &manifest, stream, |_| {
            read += 1;
            if read.is_multiple_of(1000)
                && let Some(pace) = pace.as_mut()
            {
                std::thread::sleep(pace.rest());
            }
            Ok(())
        })?;
    }
    Ok(manifest)
}

/// One of the backup's files, for reading.
pub(super) fn open_part(path: &Path, name: &str) -> Result<File, BackupError> {
    let file_path = path.join(name);
    File::open(&file_path).map_err(|e| match e.kind() {
        std::io::ErrorKind::NotFound => BackupError::Damaged(format!("{name} is missing")),
        _ => io_error(&file_path, e),
    })
}

/// `Err` unless the manifest lists `name` with these bytes and this SHA-256.
pub(super) fn matches_manifest(
    manifest: &Manifest,
    name: &str,
    bytes: u64,
    sha256: &str,
) -> Result<(), BackupError> {
    let part = manifest
        .file(name)
        .ok_or_else(|| BackupError::Damaged(format!("{MANIFEST} lists no {name}")))?;
    if bytes != part.bytes || sha256 != part.sha256 {
        return Err(BackupError::Damaged(format!(
            "{name} has {bytes} bytes with SHA-256 {sha256}; the manifest says {} bytes with {}",
            part.bytes, part.sha256
        )));
    }
    Ok(())
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
    // Exactly the files and streams of this version, each once: a manifest cannot point the
    // check (or a restore) at anything else.
    let mut want: Vec<String> = StreamName::ALL
        .iter()
        .map(|s| format::stream_file(*s))
        .chain([format::DATABASE.to_owned(), format::TOKEN_KEY.to_owned()])
        .collect();
    let mut files: Vec<String> = manifest.files.iter().map(|f| f.name.clone()).collect();
    want.sort();
    files.sort();
    if files != want {
        return Err(BackupError::Damaged(format!(
            "{MANIFEST} lists the files {files:?}; a version {VERSION} backup has {want:?}"
        )));
    }
    let mut streams: Vec<&str> = manifest.streams.iter().map(|s| s.name.as_str()).collect();
    let mut want_streams: Vec<&str> = StreamName::ALL.iter().map(|s| s.as_str()).collect();
    streams.sort_unstable();
    want_streams.sort_unstable();
    if streams != want_streams {
        return Err(BackupError::Damaged(format!(
            "{MANIFEST} lists the streams {streams:?}; a backup has {want_streams:?}"
        )));
    }
    Ok(manifest)
}

/// Calls `each` with every message of `stream`, in order, checking as it goes that each line
/// reads, belongs to the stream and follows the last, with no gap (leaf never deletes a
/// message), and at the end that they add up to what the manifest says, file checksum
/// included: a caller that acts on the messages must only trust its work once this is `Ok`.
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
    let mut reader = BufReader::new(HashingReader::new(open_part(path, &name)?));
    let mut count = 0u64;
    let mut last = 0u64;
    for (n, line) in (&mut reader).lines().enumerate() {
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
    let (bytes, sha256) = reader.into_inner().finish();
    matches_manifest(manifest, &name, bytes, &sha256)?;
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
