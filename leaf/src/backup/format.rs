//! The backup format, version 1: a directory that a person (or a script) can read without
//! NATS or leaf.
//!
//! ```text
//! <backup>/
//!   manifest.json  what the backup holds: format and version, when it was taken, by which
//!                  leaf, and per file its bytes and SHA-256; per stream its message count
//!                  and its first and last sequence
//!   STATE.jsonl    every message of the STATE stream, one JSON object a line, in order
//!   AUDIT.jsonl    the same for AUDIT
//!   leaf.db        SQLite (a `VACUUM INTO` copy): TD accounts, viewer links, the projection
//!   jwt.key        the key leaf signs tokens with, so TD and viewer-link tokens stay valid
//! ```
//!
//! A message line:
//!
//! ```json
//! {"seq":7,"time":"2026-12-01T20:15:03.123456789Z","subject":"tournament.<id>.state.clock",
//!  "headers":[["Nats-Msg-Id","<id>:<key>"]],"data":{"seq":3,"type":"clock",…}}
//! ```
//!
//! `seq` is the message's stream sequence, `time` when the stream stored it, `headers` those it
//! was published with. `data` is the payload itself when it is JSON on one line, as leaf's
//! records are; any other payload is in `data_base64` instead. Either way the bytes come back
//! exactly.
//!
//! The manifest is written last, and the whole directory is renamed into place only after
//! everything in it is on disk: a directory named like a backup, with a manifest whose
//! checksums match, is a whole backup.

use std::io::{self, Write};

use base64::Engine as _;
use bytes::Bytes;
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use sha2::{Digest, Sha256};

use crate::event::Seq;
use crate::log::{StoredMessage, StreamName};

/// What `manifest.json` says it is.
pub const FORMAT: &str = "leaf-backup";
/// The format's version; a backup of a newer one is refused, not half read.
pub const VERSION: u32 = 1;
pub const MANIFEST: &str = "manifest.json";
pub const DATABASE: &str = "leaf.db";
pub const TOKEN_KEY: &str = "jwt.key";

/// The file holding `stream`'s messages.
pub fn stream_file(stream: StreamName) -> String {
    format!("{stream}.jsonl")
}

/// `manifest.json`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Manifest {
    pub format: String,
    pub version: u32,
    /// When the backup began (RFC 3339): it holds every message stored before then.
    pub taken_at: String,
    pub leaf_version: String,
    pub streams: Vec<StreamPart>,
    /// Every file but the manifest, the stream files included.
    pub files: Vec<FilePart>,
}

impl Manifest {
    pub fn stream(&self, stream: StreamName) -> Option<&StreamPart> {
        self.streams.iter().find(|s| s.name == stream.as_str())
    }

    pub fn file(&self, name: &str) -> Option<&FilePart> {
        self.files.iter().find(|f| f.name == name)
    }

    /// Messages in all streams.
    pub fn messages(&self) -> u64 {
        self.streams.iter().map(|s| s.messages).sum()
    }

    /// Bytes of all files.
    pub fn bytes(&self) -> u64 {
        self.files.iter().map(|f| f.bytes).sum()
    }
}

/// One stream's messages in the backup.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StreamPart {
    pub name: String,
    pub messages: u64,
    /// 0 when the stream was empty.
    pub first_seq: u64,
    pub last_seq: u64,
}

/// One file of the backup.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FilePart {
    pub name: String,
    pub bytes: u64,
    /// Lowercase hex.
    pub sha256: String,
}

/// One line of a stream file.
#[derive(Debug, Serialize, Deserialize)]
pub struct MessageLine {
    pub seq: u64,
    pub time: String,
    pub subject: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub headers: Vec<(String, String)>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data: Option<Box<RawValue>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data_base64: Option<String>,
}

impl MessageLine {
    pub fn of(message: &StoredMessage) -> Self {
        // Kept as JSON only if it reads back byte for byte, and cannot break the line.
        let data = std::str::from_utf8(&message.payload)
            .ok()
            .filter(|text| !text.contains(['\n', '\r']))
            .and_then(|text| RawValue::from_string(text.to_owned()).ok())
            .filter(|raw| raw.get().as_bytes() == &message.payload[..])
            // `"data":null` reads back as no data at all.
            .filter(|raw| raw.get() != "null");
        let data_base64 = match data {
            Some(_) => None,
            None => Some(base64::engine::general_purpose::STANDARD.encode(&message.payload)),
        };
        Self {
            seq: message.seq.0,
            time: message.time.clone(),
            subject: message.subject.clone(),
            headers: message.headers.clone(),
            data,
            data_base64,
        }
    }

    /// The message again; `Err` says what is wrong with the line.
    pub fn into_message(self) -> Result<StoredMessage, String> {
        let payload = match (self.data, self.data_base64) {
            (Some(raw), None) => Bytes::from(raw.get().to_owned()),
            (None, Some(encoded)) => base64::engine::general_purpose::STANDARD
                .decode(encoded)
                .map(Bytes::from)
                .map_err(|e| format!("data_base64: {e}"))?,
            (None, None) => return Err("neither data nor data_base64".into()),
            (Some(_), Some(_)) => return Err("both data and data_base64".into()),
        };
        Ok(StoredMessage {
            seq: Seq(self.seq),
            subject: self.subject,
            time: self.time,
            headers: self.headers,
            payload,
        })
    }
}

/// A writer that counts and hashes what goes through it.
pub struct Hashing<W> {
    inner: W,
    hasher: Sha256,
    bytes: u64,
}

impl<W: Write> Hashing<W> {
    pub fn new(inner: W) -> Self {
        Self {
            inner,
            hasher: Sha256::new(),
            bytes: 0,
        }
    }

    /// The inner writer, the byte count and the SHA-256 in hex.
    pub fn finish(self) -> (W, u64, String) {
        (self.inner, self.bytes, hex(&self.hasher.finalize()))
    }
}

impl<W: Write> Write for Hashing<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.hasher.update(&buf[..n]);
        self.bytes += n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

/// A reader that counts and hashes what it yields.
pub struct HashingReader<R> {
    inner: R,
    hasher: Sha256,
    bytes: u64,
}

impl<R: io::Read> HashingReader<R> {
    pub fn new(inner: R) -> Self {
        Self {
            inner,
            hasher: Sha256::new(),
            bytes: 0,
        }
    }

    /// The byte count and the SHA-256 in hex of what was read.
    pub fn finish(self) -> (u64, String) {
        (self.bytes, hex(&self.hasher.finalize()))
    }
}

impl<R: io::Read> io::Read for HashingReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.hasher.update(&buf[..n]);
        self.bytes += n as u64;
        Ok(n)
    }
}

/// Bytes and SHA-256 of what `reader` yields.
pub fn digest(mut reader: impl io::Read) -> io::Result<(u64, String)> {
    let mut hashing = Hashing::new(io::sink());
    io::copy(&mut reader, &mut hashing)?;
    let (_, bytes, sha256) = hashing.finish();
    Ok((bytes, sha256))
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn message(payload: &[u8]) -> StoredMessage {
        StoredMessage {
            seq: Seq(7),
            subject: "tournament.x.state.clock".into(),
            time: "2026-12-01T20:15:03.123456789Z".into(),
            headers: vec![("Nats-Msg-Id".into(), "x:1".into())],
            payload: Bytes::copy_from_slice(payload),
        }
    }

    fn round_trip(payload: &[u8]) -> (String, StoredMessage) {
        let line = serde_json::to_string(&MessageLine::of(&message(payload))).unwrap();
        assert!(!line.contains('\n'), "{line}");
        let back: MessageLine = serde_json::from_str(&line).unwrap();
        (line, back.into_message().unwrap())
    }

    #[test]
    fn a_json_payload_is_kept_as_json_and_comes_back_byte_for_byte() {
        let payload = br#"{"seq":3,"type":"clock","data":{"level": 2}}"#;
        let (line, back) = round_trip(payload);
        assert!(line.contains(r#""data":{"seq":3"#), "{line}");
        assert_eq!(back, message(payload));
    }

    #[test]
    fn other_payloads_are_base64_and_come_back_byte_for_byte() {
        for payload in [
            &b"not json"[..],
            b"{\"a\":\n1}",
            b"\xff\xfe binary",
            b"",
            b" {\"padded\":1}",
            b"null",
        ] {
            let (line, back) = round_trip(payload);
            assert!(line.contains("data_base64"), "{line}");
            assert_eq!(back, message(payload));
        }
    }

    #[test]
    fn a_line_with_both_or_neither_is_refused() {
        let neither = r#"{"seq":1,"time":"t","subject":"s"}"#;
        let both = r#"{"seq":1,"time":"t","subject":"s","data":1,"data_base64":"MQ=="}"#;
        for line in [neither, both] {
            let parsed: MessageLine = serde_json::from_str(line).unwrap();
            assert!(parsed.into_message().is_err(), "{line}");
        }
    }

    #[test]
    fn hashing_matches_a_known_digest() {
        let (bytes, sha) = digest(&b"abc"[..]).unwrap();
        assert_eq!(bytes, 3);
        assert_eq!(
            sha,
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }
}
