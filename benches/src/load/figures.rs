//! What one system did under one workload, and the Markdown table that compares two.

use std::time::Duration;

use hdrhistogram::Histogram;

#[derive(Debug)]
pub struct Figures {
    pub system: &'static str,
    pub clients: usize,
    pub connect_all: Duration,
    /// Append sent → client received, microseconds.
    pub latency: Histogram<u64>,
    /// A measured append's round trip (sent → acknowledged), microseconds. Not in the table,
    /// which compares what clients see; the flood scenario reports it.
    pub append_latency: Histogram<u64>,
    pub deliveries: u64,
    pub elapsed: Duration,
    /// Connections the server closed (slow client, resync) or that failed.
    pub drops: u64,
    /// Appends that got no acknowledgement (error or timeout); their events may still arrive.
    pub failed_appends: u64,
    /// The server's resident memory growth per connected client, bytes.
    pub rss_per_client: Option<u64>,
    /// A storm's clients: reconnect start → every missed append held, microseconds.
    pub catch_up: Option<Histogram<u64>>,
    /// A storm: reconnect start → the last client caught up.
    pub caught_up_all: Option<Duration>,
}

impl Figures {
    pub fn new(system: &'static str, clients: usize) -> Self {
        Self {
            system,
            clients,
            connect_all: Duration::ZERO,
            latency: Self::histogram(),
            append_latency: Self::histogram(),
            deliveries: 0,
            elapsed: Duration::ZERO,
            drops: 0,
            failed_appends: 0,
            rss_per_client: None,
            catch_up: None,
            caught_up_all: None,
        }
    }

    /// Microseconds, from 1 µs to a minute, three significant digits.
    pub fn histogram() -> Histogram<u64> {
        Histogram::new_with_bounds(1, 60_000_000, 3).expect("constant, valid bounds")
    }

    /// The table's cells, each under its header; the storm's three only when there was one.
    fn columns(&self) -> Vec<(&'static str, Option<f64>)> {
        let ms = |micros: u64| micros as f64 / 1000.0;
        let has = !self.latency.is_empty();
        let mut columns = vec![
            (
                "connect all (ms)",
                Some(self.connect_all.as_secs_f64() * 1000.0),
            ),
            (
                "p50 (ms)",
                has.then(|| ms(self.latency.value_at_quantile(0.5))),
            ),
            (
                "p99 (ms)",
                has.then(|| ms(self.latency.value_at_quantile(0.99))),
            ),
            (
                "p99.9 (ms)",
                has.then(|| ms(self.latency.value_at_quantile(0.999))),
            ),
            ("max (ms)", has.then(|| ms(self.latency.max()))),
            (
                "deliveries/s",
                (self.elapsed > Duration::ZERO)
                    .then(|| self.deliveries as f64 / self.elapsed.as_secs_f64()),
            ),
            ("drops", Some(self.drops as f64)),
            ("failed appends", Some(self.failed_appends as f64)),
            (
                "RSS/client (KB)",
                self.rss_per_client.map(|b| b as f64 / 1024.0),
            ),
        ];
        if let Some(catch_up) = &self.catch_up {
            let has = !catch_up.is_empty();
            columns.extend([
                (
                    "catch-up p50 (ms)",
                    has.then(|| ms(catch_up.value_at_quantile(0.5))),
                ),
                (
                    "catch-up p99 (ms)",
                    has.then(|| ms(catch_up.value_at_quantile(0.99))),
                ),
                (
                    "all caught up (ms)",
                    self.caught_up_all.map(|d| d.as_secs_f64() * 1000.0),
                ),
            ]);
        }
        columns
    }
}

/// `| system | … |` rows for each system, then `| leaf/<other> | … |` with the first row's
/// figures over each other row's.
pub fn table(scenario: &str, rows: &[Figures]) -> String {
    let Some(widest) = rows.iter().max_by_key(|row| row.columns().len()) else {
        return format!("scenario {scenario}: no figures\n");
    };
    let headers: Vec<&str> = widest.columns().into_iter().map(|(h, _)| h).collect();
    let mut out = format!(
        "scenario {scenario}\n\n| system | clients | {} |\n",
        headers.join(" | ")
    );
    out.push_str(&format!("|---|---|{}\n", "---|".repeat(headers.len())));
    let values = |row: &Figures| -> Vec<Option<f64>> {
        let mut values: Vec<Option<f64>> = row.columns().into_iter().map(|(_, v)| v).collect();
        values.resize(headers.len(), None);
        values
    };
    let cell = |v: Option<f64>| v.map_or("–".to_owned(), |v| format!("{v:.2}"));
    for row in rows {
        let cells: Vec<String> = values(row).into_iter().map(cell).collect();
        out.push_str(&format!(
            "| {} | {} | {} |\n",
            row.system,
            row.clients,
            cells.join(" | ")
        ));
    }
    if let [leaf, others @ ..] = rows {
        for other in others {
            let ratios: Vec<String> = values(leaf)
                .into_iter()
                .zip(values(other))
                .map(|(a, b)| match (a, b) {
                    (Some(a), Some(b)) if b > 0.0 => format!("{:.2}", a / b),
                    _ => "–".to_owned(),
                })
                .collect();
            let name = other.system.replacen("nats-server", "nats", 1);
            out.push_str(&format!(
                "| {}/{name} | – | {} |\n",
                leaf.system,
                ratios.join(" | ")
            ));
        }
    }
    out
}

/// Resident memory of a process, bytes, from /proc.
pub fn rss_bytes(pid: u32) -> Option<u64> {
    proc_status_bytes(pid, "VmRSS:")
}

/// The most resident memory a process has had since it started, bytes, from /proc.
pub fn peak_rss_bytes(pid: u32) -> Option<u64> {
    proc_status_bytes(pid, "VmHWM:")
}

/// A `kB` line of `/proc/<pid>/status`, in bytes.
fn proc_status_bytes(pid: u32, field: &str) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with(field))?;
    let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb * 1024)
}
