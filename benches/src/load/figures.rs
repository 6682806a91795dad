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
    pub deliveries: u64,
    pub elapsed: Duration,
    /// Connections the server closed (slow client, resync) or that failed.
    pub drops: u64,
    /// The server's resident memory growth per connected client, bytes.
    pub rss_per_client: Option<u64>,
}

impl Figures {
    pub fn new(system: &'static str, clients: usize) -> Self {
        Self {
            system,
            clients,
            connect_all: Duration::ZERO,
            latency: Self::histogram(),
            deliveries: 0,
            elapsed: Duration::ZERO,
            drops: 0,
            rss_per_client: None,
        }
    }

    /// Microseconds, from 1 µs to a minute, three significant digits.
    pub fn histogram() -> Histogram<u64> {
        Histogram::new_with_bounds(1, 60_000_000, 3).expect("constant, valid bounds")
    }

    fn columns(&self) -> Vec<Option<f64>> {
        let ms = |micros: u64| micros as f64 / 1000.0;
        let has = !self.latency.is_empty();
        vec![
            Some(self.connect_all.as_secs_f64() * 1000.0),
            has.then(|| ms(self.latency.value_at_quantile(0.5))),
            has.then(|| ms(self.latency.value_at_quantile(0.99))),
            has.then(|| ms(self.latency.value_at_quantile(0.999))),
            has.then(|| ms(self.latency.max())),
            (self.elapsed > Duration::ZERO)
                .then(|| self.deliveries as f64 / self.elapsed.as_secs_f64()),
            Some(self.drops as f64),
            self.rss_per_client.map(|b| b as f64 / 1024.0),
        ]
    }
}

const HEADER: [&str; 8] = [
    "connect all (ms)",
    "p50 (ms)",
    "p99 (ms)",
    "p99.9 (ms)",
    "max (ms)",
    "deliveries/s",
    "drops",
    "RSS/client (KB)",
];

/// `| system | … |` rows for each system, then `| leaf/nats | … |` with the ratios.
pub fn table(scenario: &str, rows: &[Figures]) -> String {
    let mut out = format!(
        "scenario {scenario}\n\n| system | clients | {} |\n",
        HEADER.join(" | ")
    );
    out.push_str(&format!("|---|---|{}\n", "---|".repeat(HEADER.len())));
    let cell = |v: Option<f64>| v.map_or("–".to_owned(), |v| format!("{v:.2}"));
    for row in rows {
        let cells: Vec<String> = row.columns().into_iter().map(cell).collect();
        out.push_str(&format!(
            "| {} | {} | {} |\n",
            row.system,
            row.clients,
            cells.join(" | ")
        ));
    }
    if let [leaf, nats] = rows {
        let ratios: Vec<String> = leaf
            .columns()
            .into_iter()
            .zip(nats.columns())
            .map(|(a, b)| match (a, b) {
                (Some(a), Some(b)) if b > 0.0 => format!("{:.2}", a / b),
                _ => "–".to_owned(),
            })
            .collect();
        out.push_str(&format!("| leaf/nats | – | {} |\n", ratios.join(" | ")));
    }
    out
}

/// Resident memory of a process, bytes, from /proc.
pub fn rss_bytes(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb * 1024)
}
