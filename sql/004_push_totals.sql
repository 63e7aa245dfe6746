-- What POST /v1/events has done so far, for `ingestd status`: one row, updated in the
-- transaction that stores each request's rows.
CREATE TABLE push_totals (
    id          boolean     PRIMARY KEY DEFAULT true CHECK (id),
    requests    bigint      NOT NULL DEFAULT 0,
    accepted    bigint      NOT NULL DEFAULT 0,
    duplicates  bigint      NOT NULL DEFAULT 0,
    quarantined bigint      NOT NULL DEFAULT 0,
    last_at     timestamptz
);
