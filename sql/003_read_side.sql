-- The read side. Per-user questions are answered from the events themselves through this
-- index (about a thousand rows per user, read without touching the table); the type is
-- included so the per-user summary needs no heap access either.
CREATE INDEX events_user_time ON events (user_id, occurred_at) INCLUDE (type);
-- Exact edges of a global range: the part of a range that does not cover a whole minute is
-- counted from the rows. Descending, as the upstream pages arrive: splits then fill pages.
CREATE INDEX events_time ON events (occurred_at DESC);

-- Global counts per event type and time bucket, one row per (bucket size, bucket, type), for
-- the bucket sizes the read API offers. Changed only in the transaction that inserts the rows
-- they count, and only by the rows that transaction actually inserted. An event without a type
-- is counted under ''. One partition per bucket size keeps the rows a question reads together
-- on few pages; the fill factor leaves room for the updates every page makes.
CREATE TABLE event_rollup (
    granularity_s integer     NOT NULL,
    bucket_start  timestamptz NOT NULL,
    type          text        NOT NULL,
    count         bigint      NOT NULL CHECK (count >= 0),
    PRIMARY KEY (granularity_s, bucket_start, type)
) PARTITION BY LIST (granularity_s);
CREATE TABLE event_rollup_1m PARTITION OF event_rollup FOR VALUES IN (60) WITH (fillfactor = 70);
CREATE TABLE event_rollup_5m PARTITION OF event_rollup FOR VALUES IN (300) WITH (fillfactor = 70);
CREATE TABLE event_rollup_15m PARTITION OF event_rollup FOR VALUES IN (900) WITH (fillfactor = 70);
CREATE TABLE event_rollup_1h PARTITION OF event_rollup FOR VALUES IN (3600) WITH (fillfactor = 70);
CREATE TABLE event_rollup_1d PARTITION OF event_rollup FOR VALUES IN (86400) WITH (fillfactor = 70);

-- The same counts over all types, so that a global question reads one row per bucket.
CREATE TABLE event_rollup_all (
    granularity_s integer     NOT NULL,
    bucket_start  timestamptz NOT NULL,
    count         bigint      NOT NULL CHECK (count >= 0),
    PRIMARY KEY (granularity_s, bucket_start)
) PARTITION BY LIST (granularity_s);
CREATE TABLE event_rollup_all_1m PARTITION OF event_rollup_all FOR VALUES IN (60) WITH (fillfactor = 70);
CREATE TABLE event_rollup_all_5m PARTITION OF event_rollup_all FOR VALUES IN (300) WITH (fillfactor = 70);
CREATE TABLE event_rollup_all_15m PARTITION OF event_rollup_all FOR VALUES IN (900) WITH (fillfactor = 70);
CREATE TABLE event_rollup_all_1h PARTITION OF event_rollup_all FOR VALUES IN (3600) WITH (fillfactor = 70);
CREATE TABLE event_rollup_all_1d PARTITION OF event_rollup_all FOR VALUES IN (86400) WITH (fillfactor = 70);

-- Existing rows, counted once.
INSERT INTO event_rollup (granularity_s, bucket_start, type, count)
SELECT g, to_timestamp(floor(extract(epoch FROM e.occurred_at) / g) * g), coalesce(e.type, ''),
       count(*)
FROM events e CROSS JOIN unnest(ARRAY[60, 300, 900, 3600, 86400]) AS g
GROUP BY 1, 2, 3
ORDER BY 1, 2, 3;

INSERT INTO event_rollup_all (granularity_s, bucket_start, count)
SELECT granularity_s, bucket_start, sum(count) FROM event_rollup GROUP BY 1, 2 ORDER BY 1, 2;
