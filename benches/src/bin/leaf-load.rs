//! `leaf-load --scenario <venue|big-room|idle|storm|flood>`: runs one workload against a fresh
//! leaf and against nats-server's own WebSocket fan-out, and prints one Markdown table. The
//! flood runs against leaf alone, quiet and then beside hostile clients, and prints its report.

use std::path::PathBuf;

use anyhow::{Context, bail};
use benches::load::figures::table;
use benches::load::leaf_side::{LeafSide, nats_server_path};
use benches::load::nats_side::{NatsSide, Reading};
use benches::load::scenario::Kind;
use benches::load::{Scenario, backup, flood, history};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let mut scenario_name = None;
    let mut leaf_bin = PathBuf::from("target/release/leaf");
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--scenario" => scenario_name = args.next(),
            "--leaf-bin" => {
                leaf_bin = PathBuf::from(args.next().context("--leaf-bin needs a path")?)
            }
            "-h" | "--help" => {
                println!(
                    "usage: leaf-load --scenario <{}> [--leaf-bin PATH]",
                    names()
                );
                return Ok(());
            }
            other => bail!("unknown argument {other:?}; try --help"),
        }
    }
    let name = scenario_name.context("--scenario is required")?;
    if name == "history" {
        return history(&leaf_bin).await;
    }
    if name == "backup" {
        let appends = match std::env::var("BACKUP_APPENDS") {
            Ok(n) => n
                .trim()
                .parse()
                .context("BACKUP_APPENDS: a number of appends")?,
            Err(_) => backup::APPENDS,
        };
        let report = backup::run(&leaf_bin, &nats_server_path()?, appends).await?;
        println!("{report}");
        return Ok(());
    }
    let Some(scenario) = Scenario::named(&name) else {
        bail!("no scenario {name:?}; one of {}", names());
    };
    if !leaf_bin.is_file() {
        bail!(
            "no leaf binary at {}: build it with `cargo build --release -p leaf`",
            leaf_bin.display()
        );
    }
    let flood_files = match scenario.kind {
        Kind::Flood => flood::OPEN_FILES,
        Kind::Live | Kind::Idle | Kind::Storm => 0,
    };
    raise_open_files((scenario.clients + flood_files) as u64 + 1024)?;
    let nats_server = nats_server_path()?;
    eprintln!(
        "leaf-load {}: {} clients over {} tournaments, {} appends/s for {:?}",
        scenario.name, scenario.clients, scenario.tournaments, scenario.rate, scenario.duration
    );

    let leaf = LeafSide::start(&leaf_bin, &nats_server).await?;
    if scenario.kind == Kind::Flood {
        let report = flood::run(&leaf, &scenario).await.context("flood run")?;
        println!("{report}");
        return Ok(());
    }
    let leaf_figures = leaf.run(&scenario).await.context("leaf run")?;
    drop(leaf);
    let mut rows = vec![leaf_figures];
    for &reading in readings(scenario.kind) {
        // A fresh server each time, so one run's consumers and store do not weigh on the next.
        let nats = NatsSide::start(&nats_server).await?;
        let figures = nats
            .run(&scenario, reading)
            .await
            .with_context(|| format!("{} run", reading.system()))?;
        rows.push(figures);
    }
    println!("{}", table(scenario.name, &rows));
    Ok(())
}

/// The NATS clients to compare with: a core subscription is nats-server's fastest fan-out,
/// JetStream consumers its durable one (and the only one that can resume, for the storm).
fn readings(kind: Kind) -> &'static [Reading] {
    match kind {
        Kind::Live => &[Reading::Subscription, Reading::Consumer],
        Kind::Idle => &[Reading::Subscription],
        Kind::Storm => &[Reading::Consumer],
        Kind::Flood => &[],
    }
}

fn names() -> String {
    let mut names = Scenario::ALL.map(|s| s.name).to_vec();
    names.push("history");
    names.push("backup");
    names.join("|")
}

/// Starts on logs of growing history; `HISTORY_SIZES=10000,100000` measures other sizes.
async fn history(leaf_bin: &std::path::Path) -> anyhow::Result<()> {
    let sizes = match std::env::var("HISTORY_SIZES") {
        Ok(list) => list
            .split(',')
            .map(|n| n.trim().parse::<u64>())
            .collect::<Result<Vec<_>, _>>()
            .context("HISTORY_SIZES: comma-separated numbers of appends")?,
        Err(_) => history::SIZES.to_vec(),
    };
    let report = history::run(leaf_bin, &nats_server_path()?, &sizes).await?;
    println!("{report}");
    Ok(())
}

/// Every client is a socket here and another in the server under test: lift this process's
/// soft limit to what the scenario needs; the servers it starts inherit it.
fn raise_open_files(want: u64) -> anyhow::Result<()> {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit/setrlimit with a valid pointer to a local struct.
    unsafe {
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) != 0 {
            bail!("getrlimit failed");
        }
        if limit.rlim_cur < want {
            limit.rlim_cur = want.min(limit.rlim_max);
            if libc::setrlimit(libc::RLIMIT_NOFILE, &limit) != 0 {
                bail!("setrlimit failed");
            }
        }
    }
    if limit.rlim_cur < want {
        bail!(
            "the open-files limit is {} and this scenario needs {want}: raise it (ulimit -n)",
            limit.rlim_cur
        );
    }
    Ok(())
}
