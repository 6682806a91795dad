//! The flood scenario's Markdown: the venue workload quiet and under the flood, side by side
//! with the ratio against the goal, then leaf's memory, what the flood got back, and the NATS
//! consumers left afterwards.

use std::fmt;
use std::time::Duration;

use hdrhistogram::Histogram;

use super::memory::Peak;
use super::tally::Source;
use crate::load::Figures;
use crate::load::scenario::Scenario;

/// Flood p99 over quiet p99, at most: the goal.
const GOAL_RATIO: f64 = 2.0;

pub struct Phase {
    pub figures: Figures,
    pub peak: Peak,
}

pub struct Report {
    pub scenario: Scenario,
    pub large_events: usize,
    pub quiet: Phase,
    pub flood: Phase,
    /// From the flood's start to its stop (its lead, the workload's connects and appends).
    pub flood_ran: Duration,
    pub sources: Vec<Source>,
    pub rss_after_setup: Option<u64>,
    pub rss_after: Option<u64>,
    /// VmHWM at the end: the most leaf held at any moment of the run.
    pub high_water: Option<u64>,
    pub ceiling: u64,
    /// Read before the flood phase: what leaf holds at rest (its own tails, if it counts them).
    pub consumers_before: Result<Option<u64>, String>,
    /// Read after the flood's end and a pause; `Err` says why it could not be read.
    pub consumers: Result<Option<u64>, String>,
}

fn quantile_ms(hist: &Histogram<u64>, q: f64) -> Option<f64> {
    (!hist.is_empty()).then(|| hist.value_at_quantile(q) as f64 / 1000.0)
}

fn mb(bytes: Option<u64>) -> String {
    bytes.map_or("–".to_owned(), |b| format!("{:.0} MB", b as f64 / 1e6))
}

fn consumers(count: &Result<Option<u64>, String>) -> String {
    match count {
        Ok(Some(n)) => n.to_string(),
        Ok(None) => "unknown (health does not report them)".to_owned(),
        Err(why) => format!("unknown ({why})"),
    }
}

fn cell(v: Option<f64>) -> String {
    v.map_or("–".to_owned(), |v| format!("{v:.2}"))
}

impl Phase {
    /// Append p50, p99, display p50, p99 (ms).
    fn latencies(&self) -> [Option<f64>; 4] {
        let f = &self.figures;
        [
            quantile_ms(&f.append_latency, 0.5),
            quantile_ms(&f.append_latency, 0.99),
            quantile_ms(&f.latency, 0.5),
            quantile_ms(&f.latency, 0.99),
        ]
    }

    fn row(&self, name: &str) -> String {
        let f = &self.figures;
        let latencies: Vec<String> = self.latencies().into_iter().map(cell).collect();
        format!(
            "| {name} | {} | {} | {} | {} | {} | {} |\n",
            latencies.join(" | "),
            f.append_latency.len(),
            f.deliveries,
            f.drops,
            f.failed_appends,
            mb(self.peak.bytes)
        )
    }
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = &self.scenario;
        writeln!(
            f,
            "scenario {}: the venue workload ({} displays over {} tournaments, {} appends/s for \
             {} s) quiet, then beside hostile clients of a tournament of {} events of ~48 KB\n",
            s.name,
            s.clients,
            s.tournaments,
            s.rate,
            s.duration.as_secs(),
            self.large_events
        )?;
        writeln!(
            f,
            "| phase | append p50 (ms) | append p99 (ms) | display p50 (ms) | display p99 (ms) \
             | appends acked | deliveries | drops | failed appends | leaf peak RSS |"
        )?;
        writeln!(f, "|---|---|---|---|---|---|---|---|---|---|")?;
        f.write_str(&self.quiet.row("quiet"))?;
        f.write_str(&self.flood.row("flood"))?;
        let ratios: Vec<Option<f64>> = self
            .flood
            .latencies()
            .into_iter()
            .zip(self.quiet.latencies())
            .map(|(flood, quiet)| match (flood, quiet) {
                (Some(a), Some(b)) if b > 0.0 => Some(a / b),
                _ => None,
            })
            .collect();
        let cells: Vec<String> = ratios.iter().copied().map(cell).collect();
        writeln!(
            f,
            "| flood/quiet | {} | – | – | – | – | – |\n",
            cells.join(" | ")
        )?;
        let verdict = |ratio: Option<f64>| match ratio {
            Some(r) if r <= GOAL_RATIO => format!("met (×{r:.2})"),
            Some(r) => format!("missed (×{r:.2})"),
            None => "unknown".to_owned(),
        };
        writeln!(
            f,
            "Goal, flood p99 ≤ {GOAL_RATIO}× quiet p99: append {}, display {}.\n",
            verdict(ratios[1]),
            verdict(ratios[3])
        )?;
        writeln!(
            f,
            "leaf RSS: {} after setup, peak {} quiet and {} under the flood, {} a few seconds \
             after it; VmHWM {}.",
            mb(self.rss_after_setup),
            mb(self.quiet.peak.bytes),
            mb(self.flood.peak.bytes),
            mb(self.rss_after),
            mb(self.high_water)
        )?;
        if let Some(at) = self.flood.peak.ceiling_passed {
            writeln!(
                f,
                "**The flood was stopped after {:.1} s: leaf passed the tool's ceiling of {}.**",
                at.as_secs_f64(),
                mb(Some(self.ceiling))
            )?;
        }
        writeln!(
            f,
            "\nThe flood ran {:.1} s. What its clients got back:\n",
            self.flood_ran.as_secs_f64()
        )?;
        writeln!(f, "| flood client | answers | also |")?;
        writeln!(f, "|---|---|---|")?;
        for source in &self.sources {
            let detail = if source.detail.is_empty() {
                "–"
            } else {
                &source.detail
            };
            writeln!(f, "| {} | {} | {detail} |", source.name, source.answers)?;
        }
        writeln!(
            f,
            "\nNATS consumers on leaf's streams afterwards: {} ({} before the flood: the feed's two tails); left by the flood's reads (goal 0): the difference",
            consumers(&self.consumers),
            consumers(&self.consumers_before)
        )
    }
}
