-- A report made from the stranger's video after the visitor's own browser screened it and
-- blurred it ("Report" under "Show anyway"). Only this flag is stored: never a frame, never a
-- score.
ALTER TABLE reports ADD COLUMN screened INTEGER NOT NULL DEFAULT 0;
