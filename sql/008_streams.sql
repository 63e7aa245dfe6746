-- Streams of source profiles other than the contract's (docs/PROFILES.md) keep their events and
-- rollups in a schema of their own, created by ingestd when a stream is first run; this table
-- names them, so the read API can tell which streams exist. The contract's stream keeps the
-- tables of the schema above.
CREATE TABLE streams (
    name        text        PRIMARY KEY,
    schema_name text        NOT NULL UNIQUE,
    created_at  timestamptz NOT NULL DEFAULT now()
);
