//! The few leaf API calls the leaf suite makes outside the consoles and displays: sign-in,
//! set-up, and the isolation probe.

use std::collections::BTreeMap;

use leaf::event::TournamentId;
use serde_json::{Value, json};

use crate::HarnessError;
use crate::findings::Findings;

pub const TD: &str = "crash-td";
pub const PIN: &str = "crash-pin-4821";

/// A viewer token of one tournament must not open another's socket, after any restart.
pub async fn snoop(
    api: &Api,
    tournaments: &[TournamentId],
    viewer_tokens: &BTreeMap<TournamentId, String>,
) -> Findings {
    let mut findings = Findings::default();
    for (i, t) in tournaments.iter().enumerate() {
        let other = tournaments[(i + 1) % tournaments.len()];
        if other == *t {
            continue;
        }
        match api.ws_status(other, &viewer_tokens[t]).await {
            Some(403) => {}
            Some(101) => {
                findings
                    .leaked
                    .insert(format!("viewer of {t} opened {other}'s socket"));
            }
            other_answer => findings.inconsistent.push(format!(
                "viewer of {t} opening {other}: {other_answer:?} instead of 403"
            )),
        }
    }
    findings
}

/// The few API calls the suite makes outside the consoles.
#[derive(Clone)]
pub struct Api {
    pub http: reqwest::Client,
    pub base: String,
}

impl Api {
    async fn post(
        &self,
        path: &str,
        token: Option<&str>,
        body: Value,
    ) -> Result<Value, HarnessError> {
        let mut request = self.http.post(format!("{}{path}", self.base)).json(&body);
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        let response = request
            .send()
            .await
            .map_err(|e| HarnessError::Setup(format!("POST {path}: {e}")))?;
        let status = response.status();
        let body: Value = response.json().await.unwrap_or_default();
        if status.is_success() {
            Ok(body)
        } else {
            Err(HarnessError::Setup(format!("POST {path}: {status} {body}")))
        }
    }

    pub async fn login(&self) -> Result<String, HarnessError> {
        let body = self
            .post("/api/v1/auth/login", None, json!({"name": TD, "pin": PIN}))
            .await?;
        text(&body, "token")
    }

    pub async fn create_tournament(
        &self,
        token: &str,
        name: &str,
    ) -> Result<TournamentId, HarnessError> {
        let body = self
            .post("/api/v1/tournaments", Some(token), json!({"name": name}))
            .await?;
        text(&body, "id")?
            .parse()
            .map_err(|e| HarnessError::Setup(format!("tournament id: {e}")))
    }

    /// Appends one event of type `kind` to `t`; its seq.
    pub async fn append(
        &self,
        token: &str,
        t: TournamentId,
        kind: &str,
        n: u64,
    ) -> Result<u64, HarnessError> {
        let path = format!("/api/v1/tournaments/{t}/events");
        let body = self
            .post(&path, Some(token), json!({"type": kind, "data": {"n": n}}))
            .await?;
        body["seq"]
            .as_u64()
            .ok_or_else(|| HarnessError::Setup(format!("POST {path}: no seq in {body}")))
    }

    pub async fn viewer_token(&self, token: &str, t: TournamentId) -> Result<String, HarnessError> {
        let path = format!("/api/v1/tournaments/{t}/viewer-links");
        let body = self.post(&path, Some(token), json!({})).await?;
        text(&body, "token")
    }

    /// The HTTP status of a WebSocket upgrade for tournament `t` with `token`.
    pub async fn ws_status(&self, t: TournamentId, token: &str) -> Option<u16> {
        let url = format!(
            "{}/ws?tournament={t}&token={token}",
            self.base.replacen("http", "ws", 1)
        );
        match tokio_tungstenite::connect_async(url).await {
            Ok(_) => Some(101),
            Err(tokio_tungstenite::tungstenite::Error::Http(response)) => {
                Some(response.status().as_u16())
            }
            Err(_) => None,
        }
    }
}

fn text(body: &Value, field: &str) -> Result<String, HarnessError> {
    body[field]
        .as_str()
        .map(str::to_owned)
        .ok_or_else(|| HarnessError::Setup(format!("no {field} in {body}")))
}
