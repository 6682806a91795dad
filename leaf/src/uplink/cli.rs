//! `leaf uplink status`: the uplink of the leaf running on a data dir, looked at from outside.

use anyhow::{Context, bail};

use super::{Link, RECORD, Target};
use crate::config::Config;
use crate::log::supervisor;

pub async fn status(config: &Config) -> anyhow::Result<()> {
    let record = config.data_dir.join(RECORD);
    let text = match std::fs::read_to_string(&record) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => bail!(
            "the leaf on {} has no uplink (no {}): start it with --uplink-url and --venue-id",
            config.data_dir.display(),
            record.display()
        ),
        Err(e) => return Err(e).with_context(|| format!("cannot read {}", record.display())),
    };
    let target: Target = serde_json::from_str(&text)
        .with_context(|| format!("{} is not what leaf writes there", record.display()))?;
    let nats_dir = config.data_dir.join("nats");
    let found = supervisor::running_server(&nats_dir)
        .and_then(|(url, auth)| Ok((url, auth, supervisor::running_probe(&nats_dir)?)));
    let (url, auth, probe) = found.map_err(|e| {
        anyhow::anyhow!(
            "no leaf with its own nats-server runs on {}: {e}",
            config.data_dir.display()
        )
    })?;
    let status = Link::look_once(target, &url, &auth, probe)
        .await
        .with_context(|| format!("cannot reach the running leaf's nats-server at {url}"))?;
    print!("{}", status.render());
    if let Some(warning) = status.warning {
        bail!("the uplink needs attention: {warning}");
    }
    Ok(())
}

/// Records the uplink of a starting leaf, or removes the record of an earlier one.
pub fn record(data_dir: &std::path::Path, target: Option<&Target>) -> std::io::Result<()> {
    let path = data_dir.join(RECORD);
    match target {
        Some(target) => {
            let text = serde_json::to_string_pretty(target).map_err(std::io::Error::other)?;
            let temporary = path.with_extension("json.new");
            std::fs::write(&temporary, text)?;
            std::fs::rename(&temporary, &path)
        }
        None => match std::fs::remove_file(&path) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(e),
            _ => Ok(()),
        },
    }
}
