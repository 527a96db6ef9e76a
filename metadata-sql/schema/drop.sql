-- drop.sql - removes a shimfs volume's objects (meta_format with force).
-- Embedded like the NNN_*.sql files; every object any version created must
-- be listed here. IF EXISTS: a half-made volume is dropped too.

SET LOCAL client_min_messages = warning;

DROP FUNCTION IF EXISTS shimfs_walk(bigint, bytea[]);
DROP FUNCTION IF EXISTS shimfs_next_ids(int, bigint);
DROP FUNCTION IF EXISTS shimfs_inode_changed(), shimfs_dir_gone(), shimfs_name_gone() CASCADE;
DROP TABLE IF EXISTS entry_gone, inline_block, inode_gone, reservation, garbage, orphan_owner, session, xattr, symlink, slice, entry, inode,
                     settings, schema_version CASCADE;
DROP SEQUENCE IF EXISTS inode_ids, slice_ids;
