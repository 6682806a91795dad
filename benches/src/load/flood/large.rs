//! The large tournament the flood's clients read: [`EVENTS`] events of about 48 KB of data
//! each, so one resume from 0 or one page of 1000 is about 14 MB for leaf to read and send.

use anyhow::Context;
use futures_util::{StreamExt, TryStreamExt};
use serde_json::json;

use crate::load::leaf_side::LeafSide;

pub const EVENTS: usize = 300;
/// Each event's filler: under `MAX_EVENT_DATA` (64 KiB) with room for the rest of the object.
const DATA_BYTES: usize = 48_000;
/// Appends in flight while filling it: quick, without queueing behind one another for long.
const IN_FLIGHT: usize = 8;

pub struct Large {
    pub id: String,
    /// One viewer token, shared by every flood client, as a link posted on a forum would be.
    pub viewer: String,
}

pub async fn create(leaf: &LeafSide) -> anyhow::Result<Large> {
    let t = leaf
        .post("/api/v1/tournaments", json!({"name": "Large"}))
        .await?;
    let id = t["id"].as_str().context("no tournament id")?.to_owned();
    let path = format!("/api/v1/tournaments/{id}/events");
    let filler = "x".repeat(DATA_BYTES);
    futures_util::stream::iter(0..EVENTS)
        .map(|n| {
            let body = json!({"type": "table_state", "data": {"n": n, "filler": filler}});
            let path = &path;
            async move {
                leaf.post(path, body)
                    .await
                    .with_context(|| format!("appending large event {n}"))
            }
        })
        .buffer_unordered(IN_FLIGHT)
        .try_for_each(|_| async { Ok(()) })
        .await?;
    let viewer = leaf.viewer_token(&id).await?;
    Ok(Large { id, viewer })
}
