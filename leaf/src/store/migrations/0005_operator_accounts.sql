-- Each TD account gets an id of its own, carried in its tokens. A name removed and added
-- again is a new account: tokens of the old one stay refused. Accounts that exist already get
-- a fresh id, so tokens issued before this migration are refused once (their TDs sign in again).
ALTER TABLE operators ADD COLUMN account TEXT NOT NULL DEFAULT '';
UPDATE operators SET account = lower(hex(randomblob(16)));
