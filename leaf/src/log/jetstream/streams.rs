//! The two streams as leaf needs them: created when missing, brought to leaf's configuration
//! where JetStream allows it, refused (never deleted or purged) where it does not.

use async_nats::jetstream::{self, stream};

use crate::log::{DUPLICATE_WINDOW, LogError, StreamName};

/// What leaf needs of a stream. Anything else an operator set on it is left alone.
fn desired(name: StreamName) -> stream::Config {
    stream::Config {
        name: name.as_str().to_owned(),
        subjects: vec![name.filter().to_owned()],
        storage: stream::StorageType::File,
        duplicate_window: DUPLICATE_WINDOW,
        // The log is the truth: it is not to be trimmed through the API by accident.
        deny_delete: true,
        deny_purge: true,
        // Reads are direct gets, which leave no consumer behind (see `direct`).
        allow_direct: true,
        ..Default::default()
    }
}

pub(super) async fn ensure_stream(
    js: &jetstream::Context,
    name: StreamName,
) -> Result<(), LogError> {
    let want = desired(name);
    let stream_err = |reason: String| LogError::Stream {
        stream: name,
        reason,
    };
    let existing = match js.get_stream(name.as_str()).await {
        Ok(mut stream) => stream
            .info()
            .await
            .map_err(|e| stream_err(format!("cannot read its info: {e}")))?
            .config
            .clone(),
        Err(e) if is_not_found(&e) => {
            js.create_stream(want)
                .await
                .map_err(|e| stream_err(format!("cannot create it: {e}")))?;
            tracing::info!(stream = %name, "created stream");
            return Ok(());
        }
        Err(e) => return Err(LogError::Unavailable(format!("stream {name}: {e}"))),
    };
    if existing.storage != want.storage {
        return Err(stream_err(format!(
            "it exists with {:?} storage, but leaf needs file storage and JetStream cannot change a stream's storage; \
             leaf deletes nothing: move the stream's data aside by hand or start leaf with another --data-dir",
            existing.storage
        )));
    }
    if existing.subjects == want.subjects
        && existing.duplicate_window == want.duplicate_window
        && existing.allow_direct
    {
        return Ok(());
    }
    let updated = stream::Config {
        subjects: want.subjects,
        duplicate_window: want.duplicate_window,
        allow_direct: true,
        ..existing.clone()
    };
    js.update_stream(updated).await.map_err(|e| {
        stream_err(format!(
            "it exists with subjects {:?} and cannot be updated to {:?}: {e}",
            existing.subjects,
            [name.filter()]
        ))
    })?;
    tracing::warn!(stream = %name, old_subjects = ?existing.subjects, old_allow_direct = existing.allow_direct, "updated stream configuration to leaf's");
    Ok(())
}

fn is_not_found(e: &jetstream::context::GetStreamError) -> bool {
    matches!(
        e.kind(),
        jetstream::context::GetStreamErrorKind::JetStream(inner)
            if inner.error_code() == jetstream::ErrorCode::STREAM_NOT_FOUND
    )
}
