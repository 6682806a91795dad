//! What leaf writes into the log: the record format of both streams.
//!
//! One home for the format, because it has several readers: the writer
//! ([`crate::writer`]) builds these records, the feed reads them back, and leaf-sim and the
//! crash suites check the log against what was acknowledged. A change here is a change of
//! the log's format, which outlives every leaf binary that wrote it: fields are only ever
//! added, with defaults, so an old log still reads.

use serde::{Deserialize, Serialize};

use crate::event::Seq;

/// A STATE message (`tournament.{id}.state.{type}`), as leaf writes it.
///
/// The event's type is in the subject, and repeated here so the payload reads on its own.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct StateRecord {
    /// The tournament's seq as the writer expected it. The log's order is the truth: a
    /// reader counts positions, it does not trust this field.
    pub seq: Seq,
    pub ts: String,
    #[serde(rename = "type")]
    pub kind: String,
    pub data: serde_json::Value,
    /// The append's `Idempotency-Key`: in the log, so the key outlives JetStream's duplicate
    /// window and a rebuilt `leaf.db`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
    /// Who appended it and the request's id: the event carries its own audit facts, durable
    /// with it, so its AUDIT record can be written (again) from them after a crash.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub actor: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request_id: Option<String>,
}

/// An AUDIT message (`tournament.{id}.audit`): who did what, when. Only creations change
/// what readers derive from the log.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct AuditRecord {
    /// [`CREATED`] or [`APPENDED`].
    pub action: String,
    pub actor: String,
    #[serde(default)]
    pub request_id: Option<String>,
    pub ts: String,
    /// The tournament's name, on [`CREATED`].
    #[serde(default)]
    pub name: Option<String>,
    /// The event's type and seq, on [`APPENDED`].
    #[serde(default, rename = "type", skip_serializing_if = "Option::is_none")]
    pub event_type: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seq: Option<Seq>,
    /// Written at a start, from the event's own record, because the append's own audit
    /// record never reached the log (a crash or a log outage right after the event was
    /// stored). `ts` is then when it was written, not when the event was.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub recovered: bool,
}

/// The audit action that creates a tournament; its record carries the name.
pub const CREATED: &str = "tournament.created";
/// The audit action that follows every appended event.
pub const APPENDED: &str = "event.appended";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_keep_their_wire_format() {
        let state = StateRecord {
            seq: Seq(7),
            ts: "2026-11-28T21:04:11.123Z".into(),
            kind: "level_up".into(),
            data: serde_json::json!({"level": 3}),
            key: None,
            actor: None,
            request_id: None,
        };
        insta::assert_snapshot!(serde_json::to_string(&state).unwrap(), @r#"{"seq":7,"ts":"2026-11-28T21:04:11.123Z","type":"level_up","data":{"level":3}}"#);
        let audit = AuditRecord {
            action: APPENDED.into(),
            actor: "td:alice".into(),
            request_id: Some("r-1".into()),
            ts: "2026-11-28T21:04:11.130Z".into(),
            name: None,
            event_type: Some("level_up".into()),
            seq: Some(Seq(7)),
            recovered: false,
        };
        insta::assert_snapshot!(serde_json::to_string(&audit).unwrap(), @r#"{"action":"event.appended","actor":"td:alice","request_id":"r-1","ts":"2026-11-28T21:04:11.130Z","name":null,"type":"level_up","seq":7}"#);
    }

    #[test]
    fn a_creation_written_before_optional_fields_existed_still_reads() {
        let old = r#"{"action":"tournament.created","actor":"td:a","ts":"t","name":"Main"}"#;
        let record: AuditRecord = serde_json::from_str(old).unwrap();
        assert_eq!(
            (record.action.as_str(), record.name.as_deref()),
            (CREATED, Some("Main"))
        );
    }
}
