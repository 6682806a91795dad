//! Shared set-up for leaf's benchmarks: a real leaf (in this process, with the real
//! nats-server as its supervised child) and WebSocket watchers that report when each event
//! reached them; and `leaf-load`, the venue load tool ([`load`]).

pub mod api;
pub mod bench_leaf;
pub mod load;
pub mod watchers;
