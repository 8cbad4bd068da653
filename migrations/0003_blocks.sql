-- "Never again": strangers a visitor blocked. The blocker is its visitor key, hashed with the
-- same secret as addresses; the blocked stranger is named by its hashed visitor key and its
-- keyed address hash (either may be '' when unknown). One row per blocked stranger.
CREATE TABLE blocks (
    blocker TEXT NOT NULL,
    stranger_key TEXT NOT NULL,
    stranger_addr TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL,
    PRIMARY KEY (blocker, stranger_key, stranger_addr)
);
CREATE INDEX blocks_by_expiry ON blocks (expires_at);
