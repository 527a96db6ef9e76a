#!/usr/bin/env bash
# scripts/meta-tree.sh — metadata of a test tree written straight into a
# volume's database (no import, no S3 objects: every file has size 0), for
# benchmarks and tests that need tens of thousands of names in seconds.
#   meta-tree.sh URL tree NAME A S F BASE   /NAME/dI/eJ/fK: A top folders,
#                                           S subfolders each, F files each
#   meta-tree.sh URL flat NAME N BASE       /NAME/gNNNNNN: N files
# Inode numbers are BASE, BASE+1, ... (the caller keeps ranges apart); the
# volume's id sequence is moved past them, the tables analyzed. Owner: the
# caller's uid and gid; folders 0755, files 0644.
set -euo pipefail
URL=$1; shift
sql() { psql -X -q -v ON_ERROR_STOP=1 -tA "$URL" "$@"; }

# /$1 with $2 top folders of $3 subfolders of $4 files, inodes from $5.
sql_tree() {
    local top=$1 a=$2 s=$3 f=$4 b=$5
    sql <<EOF
BEGIN;
WITH t AS (SELECT (extract(epoch FROM now()) * 1e9)::bigint AS ns)
INSERT INTO inode (ino, mode, uid, gid, nlink, size, atime, mtime, ctime, parent)
SELECT $b, 16877, $(id -u), $(id -g), 2 + $a, 0, ns, ns, ns, 1 FROM t
UNION ALL
SELECT $b + i, 16877, $(id -u), $(id -g), 2 + $s, 0, ns, ns, ns, $b
  FROM t, generate_series(1, $a) i
UNION ALL
SELECT $b + $a + (i - 1) * $s + j, 16877, $(id -u), $(id -g), 2, 0, ns, ns, ns, $b + i
  FROM t, generate_series(1, $a) i, generate_series(1, $s) j
UNION ALL
SELECT $b + $a + $a * $s + ((i - 1) * $s + j - 1) * $f + k, 33188, $(id -u), $(id -g), 1, 0,
       ns, ns, ns, $b + $a + (i - 1) * $s + j
  FROM t, generate_series(1, $a) i, generate_series(1, $s) j, generate_series(1, $f) k;
INSERT INTO entry (parent, name, ino)
SELECT 1, convert_to('$top', 'UTF8'), $b
UNION ALL
SELECT $b, convert_to('d' || i, 'UTF8'), $b + i FROM generate_series(1, $a) i
UNION ALL
SELECT $b + i, convert_to('e' || j, 'UTF8'), $b + $a + (i - 1) * $s + j
  FROM generate_series(1, $a) i, generate_series(1, $s) j
UNION ALL
SELECT $b + $a + (i - 1) * $s + j, convert_to('f' || k, 'UTF8'),
       $b + $a + $a * $s + ((i - 1) * $s + j - 1) * $f + k
  FROM generate_series(1, $a) i, generate_series(1, $s) j, generate_series(1, $f) k;
UPDATE inode SET nlink = nlink + 1 WHERE ino = 1;
COMMIT;
EOF
}

# /$1: a flat folder of $2 files, inodes from $3.
sql_flat() {
    local top=$1 n=$2 b=$3
    sql <<EOF
BEGIN;
WITH t AS (SELECT (extract(epoch FROM now()) * 1e9)::bigint AS ns)
INSERT INTO inode (ino, mode, uid, gid, nlink, size, atime, mtime, ctime, parent)
SELECT $b, 16877, $(id -u), $(id -g), 2, 0, ns, ns, ns, 1 FROM t
UNION ALL
SELECT $b + k, 33188, $(id -u), $(id -g), 1, 0, ns, ns, ns, $b FROM t, generate_series(1, $n) k;
INSERT INTO entry (parent, name, ino)
SELECT 1, convert_to('$top', 'UTF8'), $b
UNION ALL
SELECT $b, convert_to('g' || lpad(k::text, 6, '0'), 'UTF8'), $b + k FROM generate_series(1, $n) k;
UPDATE inode SET nlink = nlink + 1 WHERE ino = 1;
COMMIT;
EOF
}


case $1 in
    tree) sql_tree "$2" "$3" "$4" "$5" "$6"; last=$(($6 + $3 + $3 * $4 + $3 * $4 * $5)) ;;
    flat) sql_flat "$2" "$3" "$4"; last=$(($4 + $3)) ;;
    *) echo "meta-tree.sh: unknown kind $1" >&2; exit 2 ;;
esac
sql -c "SELECT setval('inode_ids', greatest($last + 1, (SELECT last_value FROM inode_ids)))" >/dev/null
sql -c "VACUUM ANALYZE inode" -c "VACUUM ANALYZE entry" >/dev/null
