//! `leaf-load`: one workload against leaf and against nats-server's own WebSocket fan-out,
//! measured side by side.
//!
//! Both systems get the same clients (K WebSocket connections over T tournaments) and the
//! same writer (durable appends at a fixed rate). Latency is from the moment an append is
//! sent to the moment each client holds the event, recorded in an HDR histogram.
//!
//! The flood scenario ([`flood`]) runs on leaf alone: the venue workload, quiet and then
//! beside hostile clients, compared with itself. The history scenario ([`history`]) measures
//! starts on logs of 10k to 1M appends; the backup scenario ([`backup`]) a backup and a
//! restore of a 1M-append log, beside a TD's appends.

pub mod backup;
pub mod figures;
pub mod flood;
pub mod history;
pub mod leaf_side;
pub mod nats_side;
pub mod refusal;
pub mod scenario;
pub mod sent;
pub mod workload;

pub use figures::Figures;
pub use scenario::Scenario;
