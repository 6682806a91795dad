-- The projection of the event log: written only by the feed, rebuilt from the log whenever
-- it is missing. No foreign keys to `tournaments`: another writer's events may precede or lack
-- a creation record, and the projection must mirror the log, not judge it.
ALTER TABLE tournaments ADD COLUMN last_stream_seq INTEGER NOT NULL DEFAULT 0;

-- The latest data of each event type per tournament: the snapshot.
CREATE TABLE tournament_state (
    tournament_id  TEXT NOT NULL,
    type           TEXT NOT NULL,
    seq            INTEGER NOT NULL CHECK (seq >= 1),
    ts             TEXT NOT NULL,
    data           TEXT NOT NULL,
    PRIMARY KEY (tournament_id, type)
) STRICT;

-- How far the projection has applied each stream.
CREATE TABLE projection_cursor (
    stream           TEXT PRIMARY KEY NOT NULL CHECK (stream IN ('STATE', 'AUDIT')),
    last_stream_seq  INTEGER NOT NULL CHECK (last_stream_seq >= 0)
) STRICT;

-- Idempotency keys older than JetStream's duplicate window still answer with the original.
CREATE TABLE idempotency_keys (
    tournament_id  TEXT NOT NULL,
    key            TEXT NOT NULL,
    seq            INTEGER NOT NULL,
    ts             TEXT NOT NULL,
    PRIMARY KEY (tournament_id, key)
) STRICT;
