-- 003_changes.sql - schema version 3: a change log in the volume itself.
--
-- Upgrades a version 2 volume in place (meta_upgrade: one transaction under
-- an advisory lock, run by the first writer that opens a session, or by
-- gc); meta_format applies it after 001 and 002 on a new volume. A client
-- reading a version 2 volume keeps the old, cluster-wide change token
-- (meta_watch.c) until the volume is upgraded.
--
-- Why: the node agent (core/agent/agent.c) used pg_current_snapshot() as its
-- "nothing changed" test, which every commit of the whole server moves,
-- other databases included. With this log a poll asks "which inodes of
-- THIS volume changed since my previous poll" (meta_changes.c), and a node
-- re-reads only the directories those changes touch.
--
-- What it adds:
--  - inode.chg: the id of the last transaction that inserted or updated the
--    row (pg_current_xact_id(), 64 bits: never wraps), set by a trigger so
--    that every statement, present or future, fsck's repairs and hand edits
--    included, keeps it. Indexed: a poll reads `chg >= X`.
--    Every change the snapshots show touches an inode row in the same
--    transaction: a file's attributes and block map (writes, appends,
--    truncation and compaction update its row), and a directory's entries
--    (create, link, unlink and rename update the parent's mtime, as POSIX
--    wants). So a changed directory listing always shows up as a changed
--    directory row, and a changed file as a changed file row.
--  - inode.parent of a file that has (or ever had) several names is 0: its
--    row cannot say which directories list it, so a change to it makes the
--    readers of the log invalidate everything (hard links are rare in
--    datasets and checkpoints). Directories keep their real parent.
--  - inode_gone: a tombstone (transaction id) for every directory deleted,
--    so a node also drops the removed directory's own snapshot. Rows older
--    than an hour go as new ones come (an agent never looks back that far:
--    one that could not poll for a minute leaves, and a new one starts
--    afresh).

SET LOCAL client_min_messages = warning;

ALTER TABLE inode ADD COLUMN chg xid8;
CREATE INDEX inode_by_chg ON inode (chg);

CREATE TABLE inode_gone (
    chg xid8 NOT NULL,
    ino bigint NOT NULL,
    at  timestamptz NOT NULL DEFAULT clock_timestamp()
);
CREATE INDEX inode_gone_by_chg ON inode_gone (chg);
CREATE INDEX inode_gone_by_at ON inode_gone (at);

CREATE FUNCTION shimfs_inode_changed() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    NEW.chg := pg_current_xact_id();
    IF (NEW.mode & 61440) <> 16384 AND (NEW.nlink > 1 OR (TG_OP = 'UPDATE' AND OLD.parent = 0)) THEN
        NEW.parent := 0;          -- several directories list it (now or once)
    END IF;
    RETURN NEW;
END
$$;
CREATE TRIGGER inode_changed BEFORE INSERT OR UPDATE ON inode
    FOR EACH ROW EXECUTE FUNCTION shimfs_inode_changed();

CREATE FUNCTION shimfs_dir_gone() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    DELETE FROM inode_gone WHERE at < clock_timestamp() - interval '1 hour';
    INSERT INTO inode_gone (chg, ino) VALUES (pg_current_xact_id(), OLD.ino);
    RETURN NULL;
END
$$;
CREATE TRIGGER inode_dir_gone AFTER DELETE ON inode
    FOR EACH ROW WHEN ((OLD.mode & 61440) = 16384) EXECUTE FUNCTION shimfs_dir_gone();

-- The walk returns whole inode rows: the row type has one column more.
CREATE OR REPLACE FUNCTION shimfs_walk(start bigint, names bytea[])
RETURNS SETOF inode
LANGUAGE sql STABLE AS $$
    WITH RECURSIVE w AS (
        SELECT 1 AS i, n.*
          FROM entry e JOIN inode n ON n.ino = e.ino
         WHERE e.parent = start AND e.name = names[1]
        UNION ALL
        SELECT w.i + 1, n.*
          FROM w JOIN entry e ON e.parent = w.ino AND e.name = names[w.i + 1]
                 JOIN inode n ON n.ino = e.ino
         WHERE (w.mode & 61440) = 16384              -- S_IFMT, S_IFDIR
           AND w.i < coalesce(array_length(names, 1), 0)
    )
    SELECT ino, mode, uid, gid, nlink, size, atime, mtime, ctime, parent, rdev, orphan, chg
      FROM w ORDER BY i
$$;

-- Files that already have several names, or whose parent no longer lists
-- them (a hard link's first name went away): parent 0, as the trigger
-- keeps it from now on. One pass (hash anti-join) at upgrade.
UPDATE inode n SET parent = 0
 WHERE (n.mode & 61440) <> 16384 AND n.parent <> 0
   AND (n.nlink > 1 OR NOT EXISTS (SELECT 1 FROM entry e WHERE e.parent = n.parent AND e.ino = n.ino));

UPDATE settings SET value = '3' WHERE name = 'schema_version';

INSERT INTO schema_version (version, applied_ns)
VALUES (3, (extract(epoch FROM clock_timestamp()) * 1000000000)::bigint);
