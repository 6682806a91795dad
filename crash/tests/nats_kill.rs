//! Suite 1: nats-server in a container, SIGKILLed at seeded moments under concurrent writers
//! and restarted on the same store. Every acknowledged message must survive, exactly once and
//! in order; an unacknowledged one may appear at most once.

use leaf_crash::findings::emit;
use leaf_crash::nats_node::SyncPolicy;
use leaf_crash::schedule;
use leaf_crash::stream_suite::{self, Crash, StreamSuite};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nats_server_keeps_every_acknowledged_message_across_kill_9() {
    let report = stream_suite::run(StreamSuite {
        name: "nats-kill",
        cycles: schedule::cycles(50),
        writers: 8,
        sync: SyncPolicy::Always,
        crash: Crash::Kill,
        run_ms: (80, 500),
    })
    .await
    .unwrap_or_else(|e| panic!("the nats-kill suite could not run: {e}"));
    emit(&format!(
        "crash-suite nats-kill: {} sent, {} acked, restart median {:?}, {:.1} s in all",
        report.sent,
        report.tally.acked,
        report.restart_median(),
        report.elapsed.as_secs_f64()
    ));
    assert!(
        report.tally.acked > 0,
        "nothing was acknowledged: the writers never ran"
    );
    assert!(
        report.findings.is_clean(),
        "seed {}:\n{}",
        report.seed,
        report.findings.describe()
    );
}
