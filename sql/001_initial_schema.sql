-- Events exactly as the upstream defines them. user_id and session_id stay text: only id is
-- trusted to be a UUID, and a malformed optional field must not fail a whole batch.
CREATE TABLE events (
    id          uuid PRIMARY KEY,
    occurred_at timestamptz NOT NULL,
    type        text,
    name        text,
    user_id     text,
    session_id  text,
    properties  jsonb,
    session     jsonb,
    ingested_at timestamptz NOT NULL DEFAULT now()
);

-- One row per cursor chain. next_cursor is the cursor that follows the last committed page
-- and is updated in the same transaction as that page's rows.
CREATE TABLE ingest_checkpoint (
    stream         text PRIMARY KEY,
    next_cursor    text,
    pages          bigint      NOT NULL DEFAULT 0,
    events         bigint      NOT NULL DEFAULT 0,
    quarantined    bigint      NOT NULL DEFAULT 0,
    upstream_total bigint,
    done           boolean     NOT NULL DEFAULT false,
    last_error     text,
    started_at     timestamptz NOT NULL DEFAULT now(),
    updated_at     timestamptz NOT NULL DEFAULT now()
);

-- Events that could not be stored, with the reason. raw is text, not jsonb: the point is to
-- keep what jsonb would refuse.
CREATE TABLE quarantine (
    id          bigserial PRIMARY KEY,
    stream      text        NOT NULL,
    raw         text        NOT NULL,
    reason      text        NOT NULL,
    page_cursor text,
    at          timestamptz NOT NULL DEFAULT now()
);
-- A page fetched again after a cursor restart must not quarantine its bad events twice.
CREATE UNIQUE INDEX quarantine_dedup ON quarantine (stream, md5(raw), reason);

-- Every submission attempt, written before the first byte is sent so that a crash mid-upload
-- still counts against the upstream's cap.
CREATE TABLE submissions (
    attempt     integer PRIMARY KEY,
    stream      text        NOT NULL,
    started_at  timestamptz NOT NULL DEFAULT now(),
    finished_at timestamptz,
    ids_sent    bigint,
    http_status integer,
    outcome     text        NOT NULL DEFAULT 'in_progress'
                CHECK (outcome IN ('in_progress', 'accepted', 'unknown', 'rejected', 'limit_reached', 'auth_failed')),
    response    text
);
