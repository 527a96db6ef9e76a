-- 004_inline.sql - schema version 4: tiny files' bytes in the volume itself.
--
-- Upgrades a version 3 volume in place (meta_upgrade: one transaction under
-- an advisory lock, run by the first writer that opens a session, or by
-- gc); meta_format applies it after 001..003 on a new volume. A client
-- reading an older volume never asks for inline blocks (none exist there),
-- and a writer stores every file in the bucket until the volume is
-- upgraded.
--
-- Why: a file of a few KiB cost one PUT at close (an object store serves
-- ~300-1,000 small PUTs/s), far more than the commit's one round trip. A
-- commit of a file no larger than SHIMFS_INLINE_MAX puts its one block in
-- this table, in the same statement that records its slice (meta_write).
--
-- What it adds:
--  - inline_block: one row per inline slice, keyed by its slice id, which
--    carries bit 62 (LAYOUT_INLINE_BIT): the slice record is an ordinary
--    one and the id alone tells a reader where the block lives. `data` is
--    the block exactly as it would be stored in the bucket (codec.h's frame:
--    header, payload, checksums), so a read verifies it the same way.
--    STORAGE EXTERNAL: the frame is zstd already, TOAST need not try again.
--  - gc: released inline ids go through the garbage table like every
--    other id; forgetting one (meta_forget_garbage, past the grace period,
--    when no slice record names it) deletes its row in the same statement.

SET LOCAL client_min_messages = warning;

CREATE TABLE inline_block (
    id   bigint PRIMARY KEY,          -- slice id | 1 << 62
    data bytea NOT NULL
);
ALTER TABLE inline_block ALTER COLUMN data SET STORAGE EXTERNAL;

UPDATE settings SET value = '4' WHERE name = 'schema_version';

INSERT INTO schema_version (version, applied_ns)
VALUES (4, (extract(epoch FROM clock_timestamp()) * 1000000000)::bigint);
