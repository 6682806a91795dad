//! The [`EventLog`] contract as executable checks, written once and run against every
//! implementation: the memory log in unit tests, JetStream in the integration tests, the
//! simulated log in leaf-sim. Each check returns what went wrong instead of panicking, so any
//! harness can report it. Every check uses fresh tournaments; run them on a log that nobody
//! else writes to meanwhile, since some check that stream sequences step by exactly one.

use std::time::Duration;

use bytes::Bytes;
use futures_util::StreamExt;

use super::{EventLog, Filter, LogError, PAGE_BYTES, PublishOptions, StreamName, Subject};
use crate::event::{MsgId, Seq, SubjectToken, TournamentId};

/// Runs every check.
pub async fn check_all(log: &dyn EventLog) -> Result<(), String> {
    sequences_increase_by_one_per_stream(log).await?;
    a_repeated_message_id_is_a_duplicate(log).await?;
    an_expectation_guards_a_tournaments_state(log).await?;
    reads_filter_by_tournament_and_resume_after_a_sequence(log).await?;
    a_read_stops_at_a_page_of_bytes(log).await?;
    the_last_sequence_is_where_the_stream_ends(log).await?;
    a_tail_delivers_the_backlog_then_live_messages(log).await?;
    health_names_both_streams(log).await
}

fn token(s: &str) -> SubjectToken {
    s.parse()
        .unwrap_or_else(|_| unreachable!("a literal token"))
}

async fn publish(
    log: &dyn EventLog,
    subject: Subject,
    body: &str,
    options: PublishOptions,
) -> Result<super::Ack, String> {
    log.publish(subject, Bytes::from(body.to_owned()), options)
        .await
        .map_err(|e| format!("publish {body}: {e}"))
}

pub async fn sequences_increase_by_one_per_stream(log: &dyn EventLog) -> Result<(), String> {
    let t = TournamentId::new_random();
    let mut previous: Option<Seq> = None;
    for n in 0..5 {
        let ack = publish(
            log,
            Subject::State(t, token("contract")),
            &format!("{n}"),
            PublishOptions::default(),
        )
        .await?;
        if ack.stream != StreamName::State || ack.duplicate {
            return Err(format!("publish {n} was acked as {ack:?}"));
        }
        if let Some(prev) = previous.filter(|prev| ack.seq != prev.next()) {
            return Err(format!("stream sequence jumped from {prev} to {}", ack.seq));
        }
        previous = Some(ack.seq);
    }
    let audit = publish(log, Subject::Audit(t), "a", PublishOptions::default()).await?;
    if audit.stream != StreamName::Audit {
        return Err(format!("an audit record was acked as {audit:?}"));
    }
    Ok(())
}

pub async fn a_repeated_message_id_is_a_duplicate(log: &dyn EventLog) -> Result<(), String> {
    let subject = Subject::Audit(TournamentId::new_random());
    let id = MsgId::new(format!("contract-{}", uuid::Uuid::new_v4())).map_err(|e| e.to_string())?;
    let options = PublishOptions {
        msg_id: Some(id),
        expect_last: None,
    };
    let first = publish(log, subject.clone(), "once", options.clone()).await?;
    let again = publish(log, subject, "twice", options).await?;
    if first.duplicate || !again.duplicate || first.seq != again.seq {
        return Err(format!(
            "first {first:?}, repeat {again:?}: the repeat must be a duplicate of the first"
        ));
    }
    Ok(())
}

pub async fn an_expectation_guards_a_tournaments_state(log: &dyn EventLog) -> Result<(), String> {
    let (t, other) = (TournamentId::new_random(), TournamentId::new_random());
    let expect = |seq: u64| PublishOptions {
        msg_id: None,
        expect_last: Some(Seq(seq)),
    };
    let first = publish(log, Subject::State(t, token("a")), "1", expect(0)).await?;
    // Another tournament's appends do not disturb this one's expectation.
    publish(
        log,
        Subject::State(other, token("a")),
        "x",
        PublishOptions::default(),
    )
    .await?;
    // Another event type of the same tournament is guarded by the same expectation.
    let second = publish(log, Subject::State(t, token("b")), "2", expect(first.seq.0)).await?;
    match log
        .publish(
            Subject::State(t, token("a")),
            Bytes::from_static(b"stale"),
            expect(first.seq.0),
        )
        .await
    {
        // The caller waits for its feed to reach this sequence before retrying, so it must be
        // named, and right.
        Err(LogError::Conflict { last }) => {
            if last != Some(second.seq) {
                return Err(format!(
                    "the conflict named {last:?}, the real last is {}",
                    second.seq
                ));
            }
        }
        other => {
            return Err(format!(
                "a stale expectation gave {other:?}, not a conflict"
            ));
        }
    }
    match log
        .publish(
            Subject::State(TournamentId::new_random(), token("a")),
            Bytes::from_static(b"x"),
            expect(7),
        )
        .await
    {
        Err(LogError::Conflict { .. }) => Ok(()),
        other => Err(format!(
            "expecting a message in an empty tournament gave {other:?}"
        )),
    }
}

pub async fn reads_filter_by_tournament_and_resume_after_a_sequence(
    log: &dyn EventLog,
) -> Result<(), String> {
    let (t, other) = (TournamentId::new_random(), TournamentId::new_random());
    let mut mine = Vec::new();
    for n in 0..4 {
        mine.push(
            publish(
                log,
                Subject::State(t, token("r")),
                &format!("{n}"),
                PublishOptions::default(),
            )
            .await?
            .seq,
        );
        publish(
            log,
            Subject::State(other, token("r")),
            "noise",
            PublishOptions::default(),
        )
        .await?;
    }
    let all = log
        .read(StreamName::State, Filter::Tournament(t), Seq(0), 100)
        .await
        .map_err(|e| e.to_string())?;
    let seqs: Vec<Seq> = all.iter().map(|e| e.stream_seq).collect();
    if seqs != mine {
        return Err(format!("read {seqs:?}, published {mine:?}"));
    }
    if all
        .iter()
        .any(|e| !e.subject.starts_with(&format!("tournament.{t}.")))
    {
        return Err("a read returned another tournament's message".into());
    }
    let page = log
        .read(StreamName::State, Filter::Tournament(t), mine[1], 1)
        .await
        .map_err(|e| e.to_string())?;
    if page.len() != 1
        || page[0].stream_seq != mine[2]
        || page[0].payload != Bytes::from_static(b"2")
    {
        return Err(format!("reading one after {} gave {page:?}", mine[1]));
    }
    let none = log
        .read(StreamName::State, Filter::Tournament(t), mine[3], 10)
        .await
        .map_err(|e| e.to_string())?;
    if !none.is_empty() {
        return Err(format!("reading after the end gave {none:?}"));
    }
    Ok(())
}

/// A page holds at most about [`PAGE_BYTES`], whatever `limit` says, and never nothing while
/// messages are left: large events are read in several pages.
pub async fn a_read_stops_at_a_page_of_bytes(log: &dyn EventLog) -> Result<(), String> {
    let t = TournamentId::new_random();
    let big = "x".repeat(PAGE_BYTES / 4);
    let mut published = Vec::new();
    for _ in 0..6 {
        published.push(
            publish(
                log,
                Subject::State(t, token("big")),
                &big,
                PublishOptions::default(),
            )
            .await?
            .seq,
        );
    }
    let mut read = Vec::new();
    let mut after = Seq::ZERO;
    loop {
        let page = log
            .read(StreamName::State, Filter::Tournament(t), after, 100)
            .await
            .map_err(|e| e.to_string())?;
        let Some(last) = page.last() else { break };
        let bytes: usize = page.iter().map(|e| e.payload.len()).sum();
        if page.len() > 1 && bytes > PAGE_BYTES + big.len() {
            return Err(format!("a page of {} held {bytes} bytes", page.len()));
        }
        after = last.stream_seq;
        read.extend(page.iter().map(|e| e.stream_seq));
    }
    if read != published {
        return Err(format!(
            "paged reads gave {read:?}, published {published:?}"
        ));
    }
    Ok(())
}

pub async fn the_last_sequence_is_where_the_stream_ends(log: &dyn EventLog) -> Result<(), String> {
    let t = TournamentId::new_random();
    let ack = publish(
        log,
        Subject::State(t, token("end")),
        "e",
        PublishOptions::default(),
    )
    .await?;
    let last = log
        .last_seq(StreamName::State)
        .await
        .map_err(|e| e.to_string())?;
    if last != ack.seq {
        return Err(format!(
            "last_seq is {last}, the last publish was {}",
            ack.seq
        ));
    }
    Ok(())
}

pub async fn a_tail_delivers_the_backlog_then_live_messages(
    log: &dyn EventLog,
) -> Result<(), String> {
    let t = TournamentId::new_random();
    let before = publish(
        log,
        Subject::State(t, token("tail")),
        "before",
        PublishOptions::default(),
    )
    .await?;
    let mut tail = log
        .tail(StreamName::State, before.seq.prev())
        .await
        .map_err(|e| e.to_string())?;
    let first = next_entry(&mut tail).await?;
    if first.stream_seq != before.seq {
        return Err(format!(
            "the tail started at {}, not {}",
            first.stream_seq, before.seq
        ));
    }
    let live = publish(
        log,
        Subject::State(t, token("tail")),
        "live",
        PublishOptions::default(),
    )
    .await?;
    // Other tests may publish concurrently: skip to ours.
    loop {
        let entry = next_entry(&mut tail).await?;
        if entry.stream_seq == live.seq {
            return if entry.payload == Bytes::from_static(b"live") {
                Ok(())
            } else {
                Err(format!("the live entry carried {:?}", entry.payload))
            };
        }
        if entry.stream_seq > live.seq {
            return Err(format!("the tail skipped {}", live.seq));
        }
    }
}

async fn next_entry(tail: &mut super::EntryStream) -> Result<super::Entry, String> {
    match tokio::time::timeout(Duration::from_secs(5), tail.next()).await {
        Ok(Some(Ok(entry))) => Ok(entry),
        other => Err(format!("the tail gave {other:?}")),
    }
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
