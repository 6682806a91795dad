//! "NATS consumers left afterwards", from leaf's health on loopback (which shows every
//! detail there): the sum of consumer counts over the STATE and AUDIT streams. Older leafs
//! do not report it; then the answer is `None`, shown as "unknown".

use serde_json::Value;

/// Where health may carry the count: `log.consumers` as asked for, or inside the log's
/// subsystem entry (health's `subsystems.nats` is the log's health).
const PLACES: [&str; 3] = [
    "/log/consumers",
    "/subsystems/log/consumers",
    "/subsystems/nats/consumers",
];

pub async fn left(base: &str) -> anyhow::Result<Option<u64>> {
    let http = reqwest::Client::builder()
        .timeout(std::time::Duration::from_secs(10))
        .build()?;
    // A degraded leaf answers 503 with the same body: the count is still worth reading.
    let health: Value = http
        .get(format!("{base}/api/v1/health"))
        .send()
        .await?
        .json()
        .await?;
    Ok(count(&health))
}

fn count(health: &Value) -> Option<u64> {
    PLACES
        .iter()
        .find_map(|place| health.pointer(place).and_then(Value::as_u64))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn the_count_is_found_where_health_puts_it_or_is_unknown() {
        assert_eq!(count(&json!({"log": {"consumers": 0}})), Some(0));
        assert_eq!(
            count(&json!({"subsystems": {"nats": {"consumers": 3}}})),
            Some(3)
        );
        assert_eq!(count(&json!({"subsystems": {"nats": {"ok": true}}})), None);
    }
}
