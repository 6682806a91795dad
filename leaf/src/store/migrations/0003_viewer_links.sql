-- Join links a TD made for displays and phones. The token inside the URL is a viewer token
-- for exactly one tournament; it is kept so the QR code can be shown again.
CREATE TABLE viewer_links (
    id             TEXT PRIMARY KEY NOT NULL,
    tournament_id  TEXT NOT NULL CHECK (length(tournament_id) = 36),
    url            TEXT NOT NULL,
    expires_at     INTEGER NOT NULL,
    created_by     TEXT NOT NULL,
    created_at     TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
) STRICT;
