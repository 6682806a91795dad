//! The one leaf API call both the benches and the load tool make: a TD's POST.

use anyhow::bail;
use serde_json::Value;

/// POSTs `body` as the TD with `token`; the JSON answer, or the status and body as an error.
pub async fn post(
    http: &reqwest::Client,
    url: &str,
    token: &str,
    body: &Value,
) -> anyhow::Result<Value> {
    let response = http.post(url).bearer_auth(token).json(body).send().await?;
    let status = response.status();
    let answer: Value = response.json().await.unwrap_or_default();
    if !status.is_success() {
        bail!("POST {url}: {status} {answer}");
    }
    Ok(answer)
}
