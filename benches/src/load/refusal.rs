//! A WebSocket upgrade that leaf refused with a time to come back: `503` past its connection
//! limits or read budgets, `429` past a rate, each with `Retry-After` in seconds.

use std::time::Duration;

use tokio_tungstenite::tungstenite;

/// When `Retry-After` is missing or unreadable: leaf's own default.
const DEFAULT_WAIT: Duration = Duration::from_secs(1);
/// A longer `Retry-After` is cut to this, so a load client stays a load client.
const LONGEST_WAIT: Duration = Duration::from_secs(5);

/// How long to wait before trying again, if `error` is such a refusal.
pub fn come_back_after(error: &tungstenite::Error) -> Option<Duration> {
    let tungstenite::Error::Http(response) = error else {
        return None;
    };
    if !matches!(response.status().as_u16(), 429 | 503) {
        return None;
    }
    Some(retry_after(response.headers()))
}

/// The HTTP status of a refused upgrade, if the server answered at all.
pub fn status(error: &tungstenite::Error) -> Option<u16> {
    match error {
        tungstenite::Error::Http(response) => Some(response.status().as_u16()),
        _ => None,
    }
}

fn retry_after(headers: &tungstenite::http::HeaderMap) -> Duration {
    headers
        .get("retry-after")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok())
        .map_or(DEFAULT_WAIT, Duration::from_secs)
        .min(LONGEST_WAIT)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_503_with_retry_after_says_when_and_a_404_does_not() {
        let refused = |status: u16, retry_after: Option<&str>| {
            let mut response = tungstenite::http::Response::builder().status(status);
            if let Some(value) = retry_after {
                response = response.header("retry-after", value);
            }
            let response = response.body(None).expect("a valid response");
            tungstenite::Error::Http(Box::new(response))
        };
        assert_eq!(
            come_back_after(&refused(503, Some("2"))),
            Some(Duration::from_secs(2))
        );
        assert_eq!(come_back_after(&refused(429, None)), Some(DEFAULT_WAIT));
        assert_eq!(
            come_back_after(&refused(503, Some("600"))),
            Some(LONGEST_WAIT)
        );
        assert_eq!(come_back_after(&refused(404, Some("1"))), None);
        assert_eq!(status(&refused(404, None)), Some(404));
    }
}
