-- Following a newest-first upstream after the first pass. A pass is the first pass, a head
-- sync (from the head down to the mark) or a re-scan (the whole stream again). Each page's
-- commit carries the pass's target (the newest event of the page it started from) and, on the
-- last page, makes the target the mark: events at or after the mark are known to be stored.
-- The mark therefore moves only when a pass has reached it, in the transaction of its last rows.
ALTER TABLE ingest_checkpoint
    ADD COLUMN phase text NOT NULL DEFAULT 'first_pass'
        CHECK (phase IN ('first_pass', 'head_sync', 'rescan')),
    ADD COLUMN mark_us bigint,
    ADD COLUMN target_us bigint,
    ADD COLUMN syncs bigint NOT NULL DEFAULT 0,
    ADD COLUMN rescans bigint NOT NULL DEFAULT 0,
    ADD COLUMN pass_started_events bigint NOT NULL DEFAULT 0,
    ADD COLUMN last_sync_events bigint,
    ADD COLUMN last_sync_at timestamptz;

-- A stream completed before this migration: its newest stored event is where its head stood.
UPDATE ingest_checkpoint
SET mark_us = (SELECT (extract(epoch FROM max(occurred_at)) * 1000000)::bigint FROM events),
    last_sync_at = updated_at
WHERE done AND stream <> 'push';
