//! The [`EventLog`] contract as executable checks, written once and run against every
//! implementation: the memory log in unit tests, JetStream in the integration tests, the
//! simulated log in leaf-sim. Each check returns what went wrong instead of panicking, so any
//! harness can report it.

use bytes::Bytes;

use super::{EventLog, StreamName, Subject};
use crate::event::{MsgId, Seq, SubjectToken, TournamentId};

/// Runs every check on a log that holds nothing yet.
pub async fn check_all(log: &dyn EventLog) -> Result<(), String> {
    sequences_start_at_one_and_never_skip(log).await?;
    a_repeated_message_id_is_a_duplicate(log).await?;
    health_names_both_streams(log).await
}

pub async fn sequences_start_at_one_and_never_skip(log: &dyn EventLog) -> Result<(), String> {
    let t = TournamentId::new_random();
    let token: SubjectToken = "contract".parse().map_err(|e| format!("{e}"))?;
    for expected in 1..=5u64 {
        let subject = Subject::State(t, token.clone());
        let ack = log
            .publish(subject, Bytes::from(format!("{expected}")), None)
            .await
            .map_err(|e| format!("publish {expected}: {e}"))?;
        if ack.stream != StreamName::State || ack.seq != Seq(expected) || ack.duplicate {
            return Err(format!("publish {expected} was acked as {ack:?}"));
        }
    }
    let audit = log
        .publish(Subject::Audit(t), Bytes::from_static(b"a"), None)
        .await
        .map_err(|e| format!("audit publish: {e}"))?;
    if audit.stream != StreamName::Audit || audit.seq != Seq(1) {
        return Err(format!("the first audit record was acked as {audit:?}"));
    }
    Ok(())
}

pub async fn a_repeated_message_id_is_a_duplicate(log: &dyn EventLog) -> Result<(), String> {
    let subject = Subject::Audit(TournamentId::new_random());
    let id = MsgId::new(format!("contract-{}", uuid::Uuid::new_v4())).map_err(|e| e.to_string())?;
    let first = log
        .publish(
            subject.clone(),
            Bytes::from_static(b"once"),
            Some(id.clone()),
        )
        .await
        .map_err(|e| format!("first publish: {e}"))?;
    let again = log
        .publish(subject, Bytes::from_static(b"twice"), Some(id))
        .await
        .map_err(|e| format!("repeated publish: {e}"))?;
    if first.duplicate || !again.duplicate || first.seq != again.seq {
        return Err(format!(
            "first {first:?}, repeat {again:?}: the repeat must be a duplicate of the first"
        ));
    }
    Ok(())
}

pub async fn health_names_both_streams(log: &dyn EventLog) -> Result<(), String> {
    let health = log.health().await;
    let names: Vec<&str> = StreamName::ALL.iter().map(|s| s.as_str()).collect();
    if !health.ok || health.streams != names {
        return Err(format!(
            "health {health:?} should be ok with streams {names:?}"
        ));
    }
    Ok(())
}
