-- 002_sessions.sql - schema version 2: sessions that fence gc.
--
-- Upgrades a version 1 volume in place (meta_upgrade: one transaction under
-- an advisory lock, run by the first writer that opens a session, or by
-- gc); meta_format applies it right after 001 on a new volume.
--
-- What it adds:
--  - session.timeout: how long (ns) the session may stay silent before it
--    counts as dead. Each session says it for itself, so a reaper never
--    needs to guess another process's heartbeat interval. Heartbeats use
--    the database's clock (clock_timestamp()), so client clocks may differ.
--  - reservation: every batch of slice ids, recorded with the session that
--    holds it in the same statement that hands the ids out. gc never deletes
--    an unreferenced id reserved by a session that is still alive, and a
--    commit checks inside its own transaction that every id it references
--    is held by a session that still exists: a reaped session can no longer
--    commit references to ids gc may have deleted.

SET LOCAL client_min_messages = warning;

ALTER TABLE session ADD COLUMN timeout bigint NOT NULL DEFAULT 0;

-- Ranges never overlap (ids are handed out once), so the range holding an
-- id is the one with the greatest first <= id: one backward index probe.
CREATE TABLE reservation (
    first bigint PRIMARY KEY,        -- ids first .. first + n - 1
    n     int NOT NULL,
    sid   bigint NOT NULL
);
CREATE INDEX reservation_by_sid ON reservation (sid);

UPDATE settings SET value = '2' WHERE name = 'schema_version';

INSERT INTO schema_version (version, applied_ns)
VALUES (2, (extract(epoch FROM clock_timestamp()) * 1000000000)::bigint);
