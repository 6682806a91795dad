//! Prometheus metrics at `/metrics` (the OpenMetrics text format).
//!
//! Two kinds, one page:
//! - **Instruments** record as things happen: HTTP requests by route, method and status with
//!   their latency; appends by outcome and the time from publish to the log's ack; the time
//!   from an event's append to its being queued for the last client watching it. Their
//!   owners (the HTTP layer, the writer, the hub) hold the handles ([`Latency`],
//!   [`AppendCounts`]); this registry only reads them.
//! - **A snapshot** ([`Snapshot`]) of what health already knows, read at each scrape: clients
//!   by scope, dropped messages and slow disconnects, how far the feed and the projection are
//!   behind the log, client reads in flight, nats-server restarts, the event store against
//!   its limit, and the last good backup.
//!
//! No global registry: each leaf (and each leaf-sim venue) has its own.

use std::sync::Arc;
use std::time::Duration;

use prometheus_client::encoding::text::{encode_eof, encode_registry};
use prometheus_client::encoding::{EncodeLabelSet, EncodeLabelValue};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::{Registry, Unit};

/// Latency buckets: 0.25 ms to 65 s, doubling (past the 30 s request timeout).
fn latency_buckets() -> impl Iterator<Item = f64> {
    exponential_buckets(0.000_25, 2.0, 19)
}

fn latency_histogram() -> Histogram {
    Histogram::new(latency_buckets())
}

/// A latency histogram, in seconds. Cheap to clone: clones record into one histogram.
#[derive(Debug, Clone)]
pub struct Latency(Histogram);

impl Default for Latency {
    fn default() -> Self {
        Self(latency_histogram())
    }
}

impl Latency {
    pub fn observe(&self, took: Duration) {
        self.0.observe(took.as_secs_f64());
    }
}

/// How an append ended.
#[derive(Debug, Clone, Copy, Hash, PartialEq, Eq)]
pub enum AppendOutcome {
    /// Stored and acknowledged: a 201.
    Stored,
    /// A retry (same idempotency key), answered with the original.
    Repeated,
    /// Refused before or by the log: nothing stored (400-, 404-, 409-, 507-like).
    Refused,
    /// The log failed or did not answer in time: the outcome is unknown to the TD.
    Failed,
}

impl EncodeLabelValue for AppendOutcome {
    fn encode(
        &self,
        encoder: &mut prometheus_client::encoding::LabelValueEncoder,
    ) -> Result<(), std::fmt::Error> {
        use std::fmt::Write as _;
        encoder.write_str(match self {
            Self::Stored => "stored",
            Self::Repeated => "repeated",
            Self::Refused => "refused",
            Self::Failed => "failed",
        })
    }
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct OutcomeLabel {
    outcome: AppendOutcome,
}

/// Appends by outcome. Cheap to clone.
#[derive(Debug, Clone, Default)]
pub struct AppendCounts(Family<OutcomeLabel, Counter>);

impl AppendCounts {
    pub fn count(&self, outcome: AppendOutcome) {
        self.0.get_or_create(&OutcomeLabel { outcome }).inc();
    }
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RequestLabels {
    route: String,
    method: String,
    status: u16,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RouteLabels {
    route: String,
    method: String,
}

type Latencies = Family<RouteLabels, Histogram, fn() -> Histogram>;

/// The instruments, and the page. Cheap to clone.
#[derive(Debug, Clone)]
pub struct Metrics {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    registry: Registry,
    requests: Family<RequestLabels, Counter>,
    request_latency: Latencies,
}

/// What the instruments' owners hand over to be shown.
#[derive(Debug, Clone, Default)]
pub struct Instruments {
    pub appends: AppendCounts,
    /// Publish → the log's ack, for every append that got one.
    pub append_ack: Latency,
    /// An event's append (its `ts`) → queued for the last client watching its tournament.
    pub append_to_last_queued: Latency,
}

impl Metrics {
    pub fn new(instruments: Instruments) -> Self {
        let mut registry = Registry::with_prefix("leaf");
        let requests = Family::<RequestLabels, Counter>::default();
        registry.register(
            "http_requests",
            "HTTP requests answered, by route (its path pattern; `app` for the web app), method and status",
            requests.clone(),
        );
        let request_latency: Latencies = Family::new_with_constructor(latency_histogram);
        registry.register_with_unit(
            "http_request_duration",
            "Time to answer an HTTP request, by route and method",
            Unit::Seconds,
            request_latency.clone(),
        );
        registry.register(
            "appends",
            "Appends by outcome",
            instruments.appends.0.clone(),
        );
        registry.register_with_unit(
            "append_ack",
            "Time from an append's publish to the event log's ack (the fsync included)",
            Unit::Seconds,
            instruments.append_ack.0.clone(),
        );
        registry.register_with_unit(
            "append_to_last_queued",
            "Time from an event's append to its being queued for the last WebSocket client watching its tournament",
            Unit::Seconds,
            instruments.append_to_last_queued.0.clone(),
        );
        Self {
            inner: Arc::new(Inner {
                registry,
                requests,
                request_latency,
            }),
        }
    }

    /// One HTTP request answered.
    pub fn request(&self, route: &str, method: &str, status: u16, took: Duration) {
        let (route, method) = (route.to_owned(), method.to_owned());
        self.inner
            .request_latency
            .get_or_create(&RouteLabels {
                route: route.clone(),
                method: method.clone(),
            })
            .observe(took.as_secs_f64());
        self.inner
            .requests
            .get_or_create(&RequestLabels {
                route,
                method,
                status,
            })
            .inc();
    }

    /// The page: the instruments, then `snapshot`.
    pub fn render(&self, snapshot: &Snapshot) -> String {
        let mut page = String::new();
        // Writing into a String cannot fail.
        let _ = encode_registry(&mut page, &self.inner.registry);
        let _ = encode_registry(&mut page, &snapshot.registry());
        let _ = encode_eof(&mut page);
        page
    }
}

/// What health knows, at one scrape.
#[derive(Debug, Clone, Default)]
pub struct Snapshot {
    /// WebSocket clients connected now, by scope: `tournament`, `venue`, `lobby`.
    pub clients: [(&'static str, u64); 3],
    pub dropped_messages: u64,
    pub slow_disconnects: u64,
    /// Messages of each stream the feed has not applied, as of its last check.
    pub feed_behind_state: u64,
    pub feed_behind_audit: u64,
    /// Changes the feed applied that leaf.db does not hold yet.
    pub projection_behind: u64,
    /// Client reads of the log running now.
    pub log_reads: u64,
    /// Restarts of the supervised nats-server since leaf started (`None`: not supervised).
    pub nats_restarts: Option<u64>,
    /// The event store's bytes (`None`: unknown), and its limit.
    pub store_bytes: Option<u64>,
    pub store_limit_bytes: u64,
    /// The last good backup's age and size (`None`: none, or backups off).
    pub backup_age: Option<Duration>,
    pub backup_bytes: Option<u64>,
    /// Whether the last backup attempt failed.
    pub backup_failing: bool,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ScopeLabel {
    scope: &'static str,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct StreamLabel {
    stream: &'static str,
}

impl Snapshot {
    fn registry(&self) -> Registry {
        let mut registry = Registry::with_prefix("leaf");
        let clients = Family::<ScopeLabel, Gauge>::default();
        for (scope, n) in self.clients {
            clients.get_or_create(&ScopeLabel { scope }).set(n as i64);
        }
        registry.register(
            "ws_clients",
            "WebSocket clients connected now, by scope",
            clients,
        );
        registry.register(
            "ws_dropped_messages",
            "Messages dropped because a client's queue was full",
            counter(self.dropped_messages),
        );
        registry.register(
            "ws_slow_disconnects",
            "Clients closed for not keeping up",
            counter(self.slow_disconnects),
        );
        let behind = Family::<StreamLabel, Gauge>::default();
        for (stream, n) in [
            ("STATE", self.feed_behind_state),
            ("AUDIT", self.feed_behind_audit),
        ] {
            behind.get_or_create(&StreamLabel { stream }).set(n as i64);
        }
        registry.register(
            "feed_lag_messages",
            "Messages of each stream the feed has not applied yet",
            behind,
        );
        registry.register(
            "projection_lag_changes",
            "Changes the feed applied that leaf.db does not hold yet",
            gauge(self.projection_behind),
        );
        registry.register(
            "log_reads_in_flight",
            "Client reads of the event log running now",
            gauge(self.log_reads),
        );
        if let Some(restarts) = self.nats_restarts {
            registry.register(
                "nats_server_restarts",
                "Restarts of the supervised nats-server since leaf started",
                counter(restarts),
            );
        }
        if let Some(bytes) = self.store_bytes {
            registry.register_with_unit(
                "event_store",
                "Bytes the event log's store holds",
                Unit::Bytes,
                gauge(bytes),
            );
        }
        registry.register_with_unit(
            "event_store_limit",
            "Most bytes the event log may hold (--max-store)",
            Unit::Bytes,
            gauge(self.store_limit_bytes),
        );
        if let Some(age) = self.backup_age {
            registry.register_with_unit(
                "last_backup_age",
                "Age of the last good backup",
                Unit::Seconds,
                gauge(age.as_secs()),
            );
        }
        if let Some(bytes) = self.backup_bytes {
            registry.register_with_unit(
                "last_backup_size",
                "Size of the last good backup",
                Unit::Bytes,
                gauge(bytes),
            );
        }
        registry.register(
            "backup_failing",
            "1 when the last backup attempt failed",
            gauge(u64::from(self.backup_failing)),
        );
        registry
    }
}

fn gauge(value: u64) -> Gauge {
    let gauge = Gauge::<i64>::default();
    gauge.set(i64::try_from(value).unwrap_or(i64::MAX));
    gauge
}

fn counter(value: u64) -> Counter {
    let counter = Counter::<u64>::default();
    counter.inc_by(value);
    counter
}
