-- Which instants each transaction's changes to events touched, so that a kept read answer
-- whose range no commit since has touched stays served while a live feed commits at the head.
-- Written by statement triggers, so every writer is covered: ingestd's pages and pushes, and
-- anyone's INSERT, UPDATE, DELETE or TRUNCATE. [from_us, to_us) in epoch microseconds; xid
-- tells the readers whether their snapshot saw it.
CREATE TABLE event_changes (
    xid     xid8        NOT NULL DEFAULT pg_current_xact_id(),
    from_us bigint      NOT NULL,
    to_us   bigint      NOT NULL,
    at      timestamptz NOT NULL DEFAULT clock_timestamp()
);
CREATE INDEX event_changes_xid ON event_changes (xid);
CREATE INDEX event_changes_at ON event_changes (at);

CREATE FUNCTION note_event_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'TRUNCATE' THEN
        INSERT INTO event_changes (from_us, to_us)
        VALUES (-9223372036854775808, 9223372036854775807);
    ELSIF TG_OP = 'INSERT' THEN
        INSERT INTO event_changes (from_us, to_us)
        SELECT (extract(epoch FROM min(occurred_at)) * 1000000)::bigint,
               (extract(epoch FROM max(occurred_at)) * 1000000)::bigint + 1
        FROM changed_new HAVING count(*) > 0;
    ELSIF TG_OP = 'DELETE' THEN
        INSERT INTO event_changes (from_us, to_us)
        SELECT (extract(epoch FROM min(occurred_at)) * 1000000)::bigint,
               (extract(epoch FROM max(occurred_at)) * 1000000)::bigint + 1
        FROM changed_old HAVING count(*) > 0;
    ELSE
        INSERT INTO event_changes (from_us, to_us)
        SELECT (extract(epoch FROM min(occurred_at)) * 1000000)::bigint,
               (extract(epoch FROM max(occurred_at)) * 1000000)::bigint + 1
        FROM (SELECT occurred_at FROM changed_old UNION ALL SELECT occurred_at FROM changed_new) c
        HAVING count(*) > 0;
    END IF;
    -- Readers keep an answer for at most half an hour without a check (serve/answer_cache).
    DELETE FROM event_changes WHERE at < clock_timestamp() - interval '1 hour';
    RETURN NULL;
END
$$;

CREATE TRIGGER events_changed_insert AFTER INSERT ON events
    REFERENCING NEW TABLE AS changed_new FOR EACH STATEMENT EXECUTE FUNCTION note_event_change();
CREATE TRIGGER events_changed_delete AFTER DELETE ON events
    REFERENCING OLD TABLE AS changed_old FOR EACH STATEMENT EXECUTE FUNCTION note_event_change();
CREATE TRIGGER events_changed_update AFTER UPDATE ON events
    REFERENCING OLD TABLE AS changed_old NEW TABLE AS changed_new
    FOR EACH STATEMENT EXECUTE FUNCTION note_event_change();
CREATE TRIGGER events_changed_truncate AFTER TRUNCATE ON events
    FOR EACH STATEMENT EXECUTE FUNCTION note_event_change();
