//! Suite 3: power loss. nats-server's store lives on LazyFS (see `leaf_crash::lazyfs`); each
//! cycle kills the server and throws away everything written but not fsynced.
//!
//! With `sync_interval: always` nothing acknowledged may be lost. With nats-server's default
//! interval (2 minutes) acknowledged messages must be lost: that proves the harness really
//! drops data, so a harness that silently stopped dropping would fail here.

use leaf_crash::findings::emit;
use leaf_crash::nats_node::SyncPolicy;
use leaf_crash::schedule;
use leaf_crash::stream_suite::{self, Crash, Report, StreamSuite};

/// One suite at a time: two would share two cores and interleave their output.
static ONE_AT_A_TIME: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

async fn power_loss(name: &'static str, sync: SyncPolicy) -> Report {
    let _turn = ONE_AT_A_TIME.lock().await;
    let report = stream_suite::run(StreamSuite {
        name,
        cycles: schedule::cycles(20),
        writers: 6,
        sync,
        crash: Crash::PowerCut,
        run_ms: (80, 400),
    })
    .await
    .unwrap_or_else(|e| panic!("the {name} suite could not run: {e}"));
    let fs = report.fs.unwrap_or_default();
    emit(&format!(
        "crash-suite {name}: {} sent, {} acked, {} of {} cycles lost acked messages, \
         {} streams not loaded after a cut (re-created by leaf's connect), \
         {} writes, {} fsyncs, {} unsynced bytes dropped, {:.1} s in all",
        report.sent,
        report.tally.acked,
        report.cycles_with_loss,
        report.tally.cycles,
        report.vanished_streams,
        fs.writes,
        fs.syncs,
        fs.dropped_bytes,
        report.elapsed.as_secs_f64()
    ));
    assert!(
        report.tally.acked > 0,
        "nothing was acknowledged: the writers never ran"
    );
    report
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_sync_always_a_power_cut_loses_nothing_acknowledged() {
    // Whether the cuts really drop data is proven by the default-interval twin below.
    let report = power_loss("power-loss-always", SyncPolicy::Always).await;
    assert!(
        report.findings.is_clean(),
        "seed {}:\n{}",
        report.seed,
        report.findings.describe()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_the_default_sync_interval_a_power_cut_loses_acknowledged_messages() {
    let report = power_loss("power-loss-default", SyncPolicy::Default).await;
    assert!(
        report.tally.lost > 0,
        "no acknowledged message was lost without fsync: the harness cannot see loss"
    );
    assert!(
        report.findings.leaked.is_empty(),
        "seed {}: messages under another tournament's subject: {:?}",
        report.seed,
        report.findings.leaked
    );
}
