-- How many strangers one visitor reported lately (the per-reporter hourly quota) is counted
-- at every report: an index keeps that a lookup.
CREATE INDEX reports_by_reporter ON reports (reporter, created_at);
