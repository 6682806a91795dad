use super::*;
use crate::event::{Seq, TournamentId};

#[tokio::test]
async fn the_database_and_its_wal_are_private_to_leafs_user() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("leaf.db");
    let store = Store::open(&path).await.unwrap();
    let name: crate::event::OperatorName = "alice".parse().unwrap();
    store.add_operator(&name, "hash".into()).await.unwrap();
    for file in ["leaf.db", "leaf.db-wal", "leaf.db-shm"] {
        let meta = std::fs::metadata(dir.path().join(file)).unwrap();
        assert_eq!(meta.permissions().mode() & 0o777, 0o600, "{file}");
    }
    store.close().await;
}

#[tokio::test]
async fn a_new_database_is_wal_with_foreign_keys_and_migrated() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&dir.path().join("leaf.db")).await.unwrap();
    let health = store.health().await;
    assert!(health.ok, "{health:?}");
    assert_eq!(health.journal_mode.as_deref(), Some("wal"));
    assert!(health.foreign_keys);
    let versions = store
        .call(|conn| async move {
            let mut rows = conn
                .query("SELECT version FROM schema_migrations", ())
                .await?;
            let mut out = Vec::new();
            while let Some(row) = rows.next().await? {
                out.push(row.get::<i64>(0)?);
            }
            Ok(out)
        })
        .await
        .unwrap();
    assert_eq!(
        versions,
        MIGRATIONS.iter().map(|m| m.version).collect::<Vec<_>>()
    );
    store.close().await;
}

#[tokio::test]
async fn reopening_applies_nothing_twice() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("leaf.db");
    Store::open(&path).await.unwrap().close().await;
    let store = Store::open(&path).await.unwrap();
    let count = store
        .call(|conn| async move {
            let mut rows = conn
                .query("SELECT count(*) FROM schema_migrations", ())
                .await?;
            let row = rows.next().await?.expect("a count");
            Ok(row.get::<i64>(0)?)
        })
        .await
        .unwrap();
    assert_eq!(count, MIGRATIONS.len() as i64);
}

#[tokio::test]
async fn foreign_keys_are_enforced() {
    let store = Store::open_in_memory().await.unwrap();
    let result = store
        .call(|conn| async move {
            conn.execute_batch(
                "CREATE TABLE parent (id INTEGER PRIMARY KEY);
                 CREATE TABLE child (parent INTEGER NOT NULL REFERENCES parent(id));",
            )
            .await?;
            conn.execute("INSERT INTO child (parent) VALUES (42)", ())
                .await?;
            Ok(())
        })
        .await;
    assert!(result.is_err(), "an orphan row was accepted");
}

#[tokio::test]
async fn a_database_from_a_newer_leaf_is_refused_and_left_alone() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("leaf.db");
    let store = Store::open(&path).await.unwrap();
    store
        .call(|conn| async move {
            conn.execute(
                "INSERT INTO schema_migrations (version, name) VALUES (999, 'from-the-future')",
                (),
            )
            .await?;
            Ok(())
        })
        .await
        .unwrap();
    store.close().await;
    let before = std::fs::read(&path).unwrap();

    let err = Store::open(&path).await.unwrap_err();
    assert!(
        matches!(err, StoreError::NewerSchema { found: 999, .. }),
        "{err}"
    );
    assert!(err.to_string().contains("newer leaf"), "{err}");
    assert_eq!(
        std::fs::read(&path).unwrap(),
        before,
        "the file was changed"
    );
}

#[tokio::test]
async fn a_file_that_is_not_a_database_is_refused_and_left_alone() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("leaf.db");
    let garbage =
        b"this is not a database, it is a shopping list: chips, cards, coffee".repeat(100);
    std::fs::write(&path, &garbage).unwrap();
    let err = Store::open(&path).await.unwrap_err();
    assert!(matches!(err, StoreError::Open { .. }), "{err}");
    assert!(err.to_string().contains("leaf.db"), "{err}");
    assert_eq!(std::fs::read(&path).unwrap(), garbage);
}

#[tokio::test]
async fn calls_after_close_fail_cleanly() {
    let store = Store::open_in_memory().await.unwrap();
    store.close().await;
    store.close().await;
    let err = store.call(|_conn| async move { Ok(()) }).await.unwrap_err();
    assert!(matches!(err, StoreError::Closed));
}

#[tokio::test]
async fn a_panicking_job_fails_alone_and_the_database_keeps_working() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&dir.path().join("leaf.db")).await.unwrap();
    let err = store
        .call(|_conn| async move {
            if true {
                panic!("a bug in one query");
            }
            Ok(())
        })
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::Panicked), "{err}");
    assert!(store.health().await.ok);
}

#[tokio::test]
async fn the_projection_dump_lists_every_row_in_a_fixed_order() {
    let store = Store::open_in_memory().await.unwrap();
    let (a, b) = (
        TournamentId::from_uuid(uuid::Uuid::from_u128(1)),
        TournamentId::from_uuid(uuid::Uuid::from_u128(2)),
    );
    let created = |t, audit_seq| ProjectionUpdate::Created {
        tournament: t,
        name: format!("T{audit_seq}"),
        created_at: "2026-11-28T18:00:00.000Z".into(),
        audit_seq: Seq(audit_seq),
    };
    let event = |t, seq, stream_seq, kind: &str, key: Option<&str>| ProjectionUpdate::Event {
        tournament: t,
        seq: Seq(seq),
        stream_seq: Seq(stream_seq),
        kind: kind.into(),
        ts: "2026-11-28T18:00:01.000Z".into(),
        data: format!("{{\"n\":{seq}}}"),
        idempotency_key: key.map(str::to_owned),
    };
    store
        .apply_projection(vec![
            created(b, 1),
            created(a, 2),
            event(b, 1, 1, "level", Some("k1")),
            event(a, 1, 2, "clock", None),
            event(b, 2, 3, "clock", None),
        ])
        .await
        .unwrap();
    let dump = store.projection_dump().await.unwrap();
    assert_eq!(
        dump.cursor,
        Cursor {
            state: Seq(3),
            audit: Seq(2)
        }
    );
    assert_eq!(
        dump.tournaments,
        [
            format!("{a} T2 2026-11-28T18:00:00.000Z"),
            format!("{b} T1 2026-11-28T18:00:00.000Z"),
        ]
    );
    assert_eq!(dump.heads, [format!("{a} 1 2 0 "), format!("{b} 2 3 0 ")]);
    assert_eq!(
        dump.positions,
        [format!("{a} 1 2"), format!("{b} 1 1"), format!("{b} 2 3")]
    );
    assert_eq!(
        dump.state,
        [
            format!("{a} clock 1 2026-11-28T18:00:01.000Z {{\"n\":1}}"),
            format!("{b} clock 2 2026-11-28T18:00:01.000Z {{\"n\":2}}"),
            format!("{b} level 1 2026-11-28T18:00:01.000Z {{\"n\":1}}"),
        ]
    );
    assert_eq!(
        dump.idempotency_keys,
        [format!("{b} k1 1 2026-11-28T18:00:01.000Z")]
    );
}

#[tokio::test]
async fn data_version_changes_when_another_connection_commits() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("leaf.db");
    let leaf = Store::open(&path).await.unwrap();
    let before = leaf.data_version().await.unwrap();
    let name: crate::event::OperatorName = "alice".parse().unwrap();
    leaf.add_operator(&name, "hash".into()).await.unwrap();
    assert_eq!(
        leaf.data_version().await.unwrap(),
        before,
        "its own commits do not count"
    );
    let outside = Store::open(&path).await.unwrap();
    assert!(outside.remove_operator(&name).await.unwrap());
    outside.close().await;
    assert_ne!(leaf.data_version().await.unwrap(), before);
    leaf.close().await;
}
