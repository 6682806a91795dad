//! `leaf uplink status`: what the uplink of the leaf running on a data dir last saw, from the
//! status its watcher writes ([`super::files::STATUS`]).

use anyhow::{Context, bail};

use super::UplinkStatus;
use super::files::{STATUS, StatusFile};
use crate::config::Config;

/// A status older than this was written by a leaf that is not running any more, or stuck.
const STALE_AFTER: time::Duration = time::Duration::seconds(30);

pub async fn status(config: &Config) -> anyhow::Result<()> {
    let path = config.data_dir.join(STATUS);
    let text = match std::fs::read_to_string(&path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => bail!(
            "the leaf on {} has no uplink (no {}): start it with --uplink-url and --venue-id",
            config.data_dir.display(),
            path.display()
        ),
        Err(e) => return Err(e).with_context(|| format!("cannot read {}", path.display())),
    };
    let file: StatusFile = serde_json::from_str(&text)
        .with_context(|| format!("{} is not what leaf writes there", path.display()))?;
    let status: UplinkStatus = serde_json::from_value(file.status)
        .with_context(|| format!("{} is not what leaf writes there", path.display()))?;
    print!("{}", status.render());
    let written = time::OffsetDateTime::parse(
        &file.written_at,
        &time::format_description::well_known::Rfc3339,
    )
    .with_context(|| format!("{}: written_at {:?}", path.display(), file.written_at))?;
    let age = time::OffsetDateTime::now_utc() - written;
    println!(
        "as of {} (the running leaf writes it about every second)",
        file.written_at
    );
    if age > STALE_AFTER {
        bail!(
            "this is {} s old: no leaf runs on {}, or it is stuck, or it cannot write there (its log says; the status is written about every second)",
            age.whole_seconds(),
            config.data_dir.display()
        );
    }
    if let Some(warning) = status.warning {
        bail!("the uplink needs attention: {warning}");
    }
    Ok(())
}

/// At a start without an uplink: the status of an earlier one would read as current.
pub fn forget(data_dir: &std::path::Path) -> std::io::Result<()> {
    match std::fs::remove_file(data_dir.join(STATUS)) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(e),
        _ => Ok(()),
    }
}
