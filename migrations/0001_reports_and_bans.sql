-- Reports from visitors about strangers, and the bans they lead to.
-- Visitors' addresses are never stored: `reporter`, `reported` and `subject` are keyed hashes
-- (HMAC-SHA256 with a secret kept in the data directory), enough to count distinct reporters
-- and to recognise a banned address, useless for finding anyone.
CREATE TABLE reports (
    id          INTEGER PRIMARY KEY,
    created_at  INTEGER NOT NULL,  -- unix seconds
    reporter    TEXT NOT NULL,
    reported    TEXT NOT NULL,
    reason      TEXT NOT NULL
);
CREATE INDEX reports_by_reported ON reports (reported, created_at);
CREATE INDEX reports_by_time ON reports (created_at);

CREATE TABLE bans (
    id          INTEGER PRIMARY KEY,
    subject     TEXT NOT NULL,
    created_at  INTEGER NOT NULL,
    expires_at  INTEGER NOT NULL,
    reason      TEXT NOT NULL,
    lifted_at   INTEGER            -- set when a moderator lifts the ban
);
CREATE INDEX bans_by_subject ON bans (subject);
