-- Tournament Directors who may sign in. Not derived from the event log: these are the box
-- owner's accounts, made with `leaf td add`.
CREATE TABLE operators (
    name        TEXT PRIMARY KEY NOT NULL CHECK (length(name) BETWEEN 1 AND 64),
    pin_hash    TEXT NOT NULL,
    role        TEXT NOT NULL CHECK (role IN ('td')),
    created_at  TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
) STRICT;
