//! The login flood: [`TASKS`] tasks signing in as the TD with wrong PINs, each again as soon
//! as its last answer came back (after [`PAUSE`]), whatever leaf answers: no `Retry-After`
//! is honoured.

use std::time::Duration;

use serde_json::json;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use super::tally::{Source, Tally};
use crate::load::leaf_side::TD;

pub const TASKS: usize = 32;
/// Between one task's attempts: up to 1,600 a second in all, a flood by any measure, while
/// leaving the box's two cores to leaf rather than to this tool's own request loop.
const PAUSE: Duration = Duration::from_millis(20);
/// An attempt queued for a PIN check may wait; past this it counts as `timeout`.
const TIMEOUT: Duration = Duration::from_secs(10);

pub async fn run(url: String, stop: CancellationToken) -> anyhow::Result<Source> {
    let http = reqwest::Client::builder().timeout(TIMEOUT).build()?;
    let answers = Tally::default();
    let mut tasks = JoinSet::new();
    for task in 0..TASKS {
        let guesser = guess(http.clone(), url.clone(), task, answers.clone());
        let stop = stop.clone();
        tasks.spawn(async move { stop.run_until_cancelled(guesser).await });
    }
    tasks.join_all().await;
    Ok(Source {
        name: format!("login flood: {TASKS} tasks, wrong PINs for {TD:?}"),
        answers,
        detail: String::new(),
    })
}

async fn guess(http: reqwest::Client, url: String, task: usize, answers: Tally) {
    for attempt in 0u64.. {
        // Six characters or more, so each is a real guess rather than a 400.
        let body = json!({"name": TD, "pin": format!("wrong-{task}-{attempt}")});
        let answer = match http.post(&url).json(&body).send().await {
            Ok(response) => response.status().as_u16().to_string(),
            Err(e) if e.is_timeout() => "timeout".to_owned(),
            Err(_) => "error".to_owned(),
        };
        answers.add(answer);
        tokio::time::sleep(PAUSE).await;
    }
}
