-- Tournaments known to this leaf. The event log is the truth; this table is rebuilt from it.
CREATE TABLE tournaments (
    id          TEXT PRIMARY KEY NOT NULL CHECK (length(id) = 36),
    name        TEXT NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
    created_at  TEXT NOT NULL,
    -- Highest STATE sequence of this tournament applied to the projection; 0 = none yet.
    last_seq    INTEGER NOT NULL DEFAULT 0 CHECK (last_seq >= 0)
) STRICT;
