-- 005_names.sql - schema version 5: which names of a directory changed.
--
-- Upgrades a version 4 volume in place (meta_upgrade: one transaction under
-- an advisory lock, run by the first writer that opens a session, or by
-- gc); meta_format applies it after 001..004 on a new volume. A client
-- reading an older volume never asks for names (meta_dir_changes answers
-- -EOPNOTSUPP), and its node agent marks changed directories as before.
--
-- Why: the change log of schema 3 names the directories another node
-- changed, and a node re-read each of them whole: one file created in a
-- 100,000-entry folder cost its readers a re-list of 100,000 rows. With
-- the names, the node agent patches the node's snapshot of the folder
-- instead (core/agent/agent.c, meta_dir_changes in meta_changes.c).
--
-- What it adds (one indexed row more per create, unlink or rename):
--  - entry_by_ino: a name of an inode. Every name that appears or points
--    elsewhere comes with its inode's row stamped by the same transaction
--    (create inserts it, rename and exchange set its parent and ctime,
--    link its nlink, fsck's lost+found its ctime), so the names of a
--    directory changed since a horizon are the names of the inodes
--    changed since (inode_by_chg), found here.
--  - entry_gone: a tombstone (parent, name, transaction id) for every name
--    removed or renamed away, by a trigger, so every statement keeps it.
--    Rows older than an hour go as new ones come, as inode_gone's (an
--    agent never looks back that far: one that could not poll for a minute
--    leaves, and a new one starts afresh).

SET LOCAL client_min_messages = warning;

CREATE INDEX entry_by_ino ON entry (ino);

CREATE TABLE entry_gone (
    parent bigint NOT NULL,
    name   bytea NOT NULL,
    chg    xid8 NOT NULL,
    at     timestamptz NOT NULL DEFAULT clock_timestamp()
);
CREATE INDEX entry_gone_by_parent ON entry_gone (parent, chg);
CREATE INDEX entry_gone_by_at ON entry_gone (at);

-- Pruning: one call in 64 removes tombstones older than an hour, at most
-- 256, oldest first through entry_gone_by_at (the ORDER BY and LIMIT keep
-- the cached plan on the index, the cutoff is a variable: compared with
-- a volatile clock_timestamp() the DELETE would read the whole table).
-- A DELETE at every removal cost about 50 us a row, its plan a scan.
CREATE FUNCTION shimfs_name_gone() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    cutoff timestamptz;
BEGIN
    IF random() < 1.0 / 64 THEN
        cutoff := clock_timestamp() - interval '1 hour';
        DELETE FROM entry_gone WHERE ctid = ANY (ARRAY(
            SELECT ctid FROM entry_gone WHERE at < cutoff ORDER BY at LIMIT 256));
    END IF;
    INSERT INTO entry_gone (parent, name, chg) VALUES (OLD.parent, OLD.name, pg_current_xact_id());
    RETURN NULL;
END
$$;
CREATE TRIGGER entry_name_gone AFTER DELETE ON entry
    FOR EACH ROW EXECUTE FUNCTION shimfs_name_gone();
CREATE TRIGGER entry_name_moved AFTER UPDATE ON entry
    FOR EACH ROW WHEN (OLD.parent <> NEW.parent OR OLD.name <> NEW.name)
    EXECUTE FUNCTION shimfs_name_gone();

UPDATE settings SET value = '5' WHERE name = 'schema_version';

INSERT INTO schema_version (version, applied_ns)
VALUES (5, (extract(epoch FROM clock_timestamp()) * 1000000000)::bigint);
