-- The upstream's sliding log as this client saw it, per stream: the send times (epoch ms) of
-- requests that may still be in the upstream's window, written before each request leaves, and
-- the limit and window learned so far. A restarted daemon schedules its first request from
-- here instead of being refused. Kept apart from ingest_checkpoint so that the fetcher never
-- waits on the row the writer holds locked while it commits a page.
CREATE TABLE rate_limit_state (
    stream        text PRIMARY KEY,
    request_limit integer CHECK (request_limit > 0),
    window_ms     bigint  NOT NULL CHECK (window_ms > 0),
    sent_at_ms    bigint[] NOT NULL,
    updated_at    timestamptz NOT NULL DEFAULT now()
);
