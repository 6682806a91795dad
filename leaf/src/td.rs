//! `leaf td add|list|remove`: TD accounts, managed offline by the box's owner.
//!
//! These open `leaf.db` directly, without the data-dir lock, so they work beside a running
//! leaf (SQLite's WAL and busy timeout handle the second writer). The PIN comes from stdin so
//! scripts can provision a box: `echo 482193 | leaf --data-dir ./data td add alice`.

use std::io::BufRead;

use anyhow::{Context, bail};

use crate::auth::Pin;
use crate::config::TdCommand;
use crate::event::OperatorName;
use crate::store::{Store, StoreError};

/// Runs one subcommand and prints what it did on stdout.
pub async fn run(command: TdCommand, data_dir: &std::path::Path) -> anyhow::Result<()> {
    crate::datadir::create_private_dir(data_dir)
        .with_context(|| format!("cannot create the data dir {}", data_dir.display()))?;
    let store = Store::open(&data_dir.join("leaf.db")).await?;
    let result = match command {
        TdCommand::Add { name } => add(&store, &name).await,
        TdCommand::List => list(&store).await,
        TdCommand::Remove { name } => remove(&store, &name).await,
    };
    store.close().await;
    result
}

async fn add(store: &Store, name: &str) -> anyhow::Result<()> {
    let name: OperatorName = name.parse()?;
    let mut line = String::new();
    std::io::stdin()
        .lock()
        .read_line(&mut line)
        .context("cannot read the PIN from stdin")?;
    let pin =
        Pin::new(line.trim_end_matches(['\n', '\r'])).context("the PIN on stdin was refused")?;
    let hash = tokio::task::spawn_blocking(move || pin.hash())
        .await
        .context("hashing the PIN failed")?
        .map_err(|e| anyhow::anyhow!("hashing the PIN failed: {e}"))?;
    match store.add_operator(&name, hash).await {
        Ok(_account) => {
            println!("added TD {name}");
            Ok(())
        }
        Err(StoreError::AlreadyExists(_)) => {
            bail!("a TD named {name} already exists; remove it first to change its PIN")
        }
        Err(e) => Err(e.into()),
    }
}

async fn list(store: &Store) -> anyhow::Result<()> {
    let operators = store.operators().await?;
    if operators.is_empty() {
        println!("no TDs yet; add one with: echo <PIN> | leaf td add <name>");
    }
    for op in operators {
        println!("{}\t{}\t{}", op.name, op.role, op.created_at);
    }
    Ok(())
}

async fn remove(store: &Store, name: &str) -> anyhow::Result<()> {
    let name: OperatorName = name.parse()?;
    if !store.remove_operator(&name).await? {
        bail!("there is no TD named {name}");
    }
    println!("removed TD {name}");
    Ok(())
}
