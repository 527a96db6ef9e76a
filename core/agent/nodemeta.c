/* nodemeta.c - the node's shared metadata files (see nodemeta.h): a
 * shared mapping (the change sequences, the ring and sketches of changed
 * directories, the node agent's words), the settings, and one snapshot
 * file per directory, each written aside and renamed into place.
 *
 * File layout (native byte order and structure layout: a file written by
 * another build or machine fails the layout check and is ignored):
 *   header  { magic, version, sizeof attr, sizeof slice, kind, payload
 *             length, checksum of what follows the header, ... }
 *   payload records, 8-byte aligned: entry { tag, name length, attr, name }
 *           and chunk { tag, count, chunk index, slices }.
 *
 * The shared mapping ("gen", NM_MAP bytes): the page (below), then
 *   ring[NM_RING]          the directories of each local commit, by local
 *                          sequence number (processes drop their own
 *                          cached answers of those directories);
 *   local_last[NM_SKETCH]  per hash of a directory: the last local
 *                          sequence number that changed it (a snapshot
 *                          taken before is stale);
 *   remote_last[NM_SKETCH] per hash of a directory: the last agent
 *                          sequence number that saw it changed in the
 *                          database (a snapshot taken before is no longer
 *                          vouched for: it ages from its question again).
 * A hash collision only invalidates more than needed. Slots hold maxima
 * and only grow, so concurrent writers never lose a mark.
 */
#include "nodemeta.h"
#include "io.h"
#include "trust.h"

#include <assert.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define XXH_STATIC_LINKING_ONLY
#include <xxhash.h>

#define NM_MAGIC 0x314d4e53u     /* "SNM1" */
#define NM_VERSION 4
#define NM_MAX_FILE (64u << 20)
#define NM_KIND_BLOB 1
#define NM_KIND_DIR 2
#define NM_KIND_DELTA 3
#define NM_TAG_ENTRY 0x45u
#define NM_TAG_CHUNK 0x43u
#define NM_TAG_GONE 0x47u
#define NM_TAG_TOUCH 0x54u
#define NM_TAG_SAME 0x53u /* all attributes, if the name is still that inode */
#define NM_TAG_DIR 0x44u  /* a delta's: the directory's own attributes */
/* a delta past this many bytes of groups (about 5,000 changes of names
 * without maps) is left to go stale: the next lister reads the folder
 * afresh */
#define NM_DELTA_BYTES (4u << 20)

#define NM_RING 1024
#define NM_RING_DIRS 6
#define NM_RING_ALL 0xffffffffu
#define NM_SKETCH 8192

/* The shared page (the start of the "gen" file, mapped by every process of
 * the node). The local sequence stays at offset 0, where builds before the
 * change log keep their generation (they bump it without a ring entry,
 * which readers here take as "anything changed"); what processes write
 * often sits on another cache line than what the agent writes on every
 * poll. */
struct nm_page {
    uint64_t gen;               /* local sequence: one per local commit */
    char pad0[56];
    uint64_t token;             /* the agent's last poll: its horizon or token */
    int64_t verified_ns;        /* wall start of that poll */
    int64_t agent_pid;
    uint64_t rseq;              /* agent sequence: one per poll that saw changes */
    uint64_t floor;             /* rseq when the agent's unbroken chain of polls began */
    uint64_t all_remote;        /* last rseq that marked everything */
    /* the change token the chain's first poll saw, keyed by its floor
     * (nm_chain_key: one word, so a reader never pairs one chain's token
     * with another's floor); 0: none */
    uint64_t chain_key;
    char pad1[8];
    int64_t used_ns;            /* a process last looked at the node's snapshots */
    int64_t spawn_ns;           /* a process last started an agent */
    uint64_t all_local;         /* last gen that marked everything */
    char pad2[40];
};
_Static_assert(sizeof(struct nm_page) <= 4096, "nm_page is one page");

/* One local commit: the directories it changed (n of them, or
 * NM_RING_ALL), under a checksum so a torn or overwritten slot is
 * recognised (then: "anything changed"). */
struct nm_ring_slot {
    uint64_t seq;               /* 0 while being written */
    uint32_t n, sum;
    uint64_t dir[NM_RING_DIRS];
};
_Static_assert(sizeof(struct nm_ring_slot) == 64, "a ring slot is one cache line");

#define NM_RING_OFF 4096
#define NM_LOCAL_OFF (NM_RING_OFF + NM_RING * sizeof(struct nm_ring_slot))
#define NM_REMOTE_OFF (NM_LOCAL_OFF + NM_SKETCH * sizeof(uint64_t))
#define NM_MAP (NM_REMOTE_OFF + NM_SKETCH * sizeof(uint64_t))

struct nodemeta {
    int dirfd;
    struct nm_page *page;       /* shared mapping of the "gen" file */
    struct nm_ring_slot *ring;
    uint64_t *local_last, *remote_last;
    dev_t gen_dev;              /* which "gen" file: the agent leaves when it is replaced */
    ino_t gen_ino;
};

struct nm_header {
    uint32_t magic, version;
    uint32_t attr_size, slice_size, settings_size;
    uint32_t kind;
    uint64_t payload_len;
    uint64_t sum;               /* XXH3 of the payload */
    uint64_t gen;
    uint64_t token;             /* the database's change token at the question (0: unknown) */
    uint64_t rseq;              /* the agent sequence at the question */
    int64_t fetched_ns;
    uint64_t dir;
    uint32_t has_dir_attr, entries; /* entries: of a snapshot (0: not counted) */
    int64_t dir_attr_ns;
    struct meta_attr dir_attr;
};

struct nm_entry { uint32_t tag, nlen; struct meta_attr a; };
struct nm_chunk { uint32_t tag, n; uint64_t index; };

int64_t nodemeta_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

/* The folder name: a hash of the connection string (with the libpq
 * environment when the string is empty), so no part of it is stored. */
static void nm_key(const char *conninfo, char *out, size_t cap)
{
    static const char *const env[] = { "PGHOST", "PGHOSTADDR", "PGPORT", "PGDATABASE", "PGUSER",
                                       "PGSERVICE" };
    XXH3_state_t *st = XXH3_createState();
    XXH128_hash_t h = { 0, 0 };
    if (st && XXH3_128bits_reset(st) == XXH_OK) {
        XXH3_128bits_update(st, conninfo, strlen(conninfo) + 1);
        for (size_t i = 0; !*conninfo && i < sizeof env / sizeof env[0]; i++) {
            const char *v = getenv(env[i]);
            XXH3_128bits_update(st, v ? v : "", v ? strlen(v) + 1 : 1);
        }
        h = XXH3_128bits_digest(st);
    }
    XXH3_freeState(st);
    snprintf(out, cap, "%016llx%016llx", (unsigned long long)h.high64, (unsigned long long)h.low64);
}

static int nm_map_gen(struct nodemeta *nm)
{
    /* the agent's words live here: another user's page could vouch for
     * stale snapshots */
    int fd = trust_file_open(nm->dirfd, "gen", O_RDWR | O_CREAT, 0600);
    if (fd < 0)
        return fd;
    struct stat st;
    int rc = fstat(fd, &st) < 0 ? -errno : 0;
    if (rc == 0 && (size_t)st.st_size < NM_MAP && ftruncate(fd, (off_t)NM_MAP) < 0)
        rc = -errno;
    void *p = rc == 0 ? mmap(NULL, NM_MAP, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0) : MAP_FAILED;
    if (rc == 0 && p == MAP_FAILED)
        rc = -errno;
    close(fd);
    if (rc == 0) {
        nm->page = p;
        nm->ring = (struct nm_ring_slot *)(void *)((char *)p + NM_RING_OFF);
        nm->local_last = (uint64_t *)(void *)((char *)p + NM_LOCAL_OFF);
        nm->remote_last = (uint64_t *)(void *)((char *)p + NM_REMOTE_OFF);
        nm->gen_dev = st.st_dev;
        nm->gen_ino = st.st_ino;
    }
    return rc;
}

int nodemeta_open(const char *cache_dir, const char *conninfo, struct nodemeta **out)
{
    char path[PATH_MAX], key[40];
    nm_key(conninfo ? conninfo : "", key, sizeof key);
    if (snprintf(path, sizeof path, "%s", cache_dir) >= (int)sizeof path)
        return -ENAMETOOLONG;
    /* Snapshots carry attributes (modes, owners) and block maps: only a
     * folder nobody else can write is read (trust.h). */
    int top = trust_dir_open(path, sizeof path);
    int meta = top >= 0 ? trust_subdir_open(top, "meta", 1) : top;
    int dirfd = meta >= 0 ? trust_subdir_open(meta, key, 1) : meta;
    if (top >= 0)
        close(top);
    if (meta >= 0)
        close(meta);
    if (dirfd < 0)
        return dirfd;
    struct nodemeta *nm = calloc(1, sizeof *nm);
    if (!nm) {
        close(dirfd);
        return -ENOMEM;
    }
    nm->dirfd = dirfd;
    int rc = nm_map_gen(nm);
    if (rc < 0) {
        nodemeta_close(nm);
        return rc;
    }
    *out = nm;
    return 0;
}

int nodemeta_dirfd(const struct nodemeta *nm)
{
    assert(nm);
    return nm->dirfd;
}

void nodemeta_close(struct nodemeta *nm)
{
    if (!nm)
        return;
    if (nm->page)
        munmap(nm->page, NM_MAP);
    if (nm->dirfd >= 0)
        close(nm->dirfd);
    free(nm);
}

uint64_t nodemeta_gen(const struct nodemeta *nm)
{
    return __atomic_load_n(&nm->page->gen, __ATOMIC_ACQUIRE);
}

/* ---- marks: which directories changed, and when ---- */

static size_t nm_slot_of(uint64_t dir)
{
    uint64_t x = dir * 0x9E3779B97F4A7C15ULL;
    return (size_t)(x >> 51) & (NM_SKETCH - 1);
}

static void nm_max(uint64_t *slot, uint64_t v)
{
    uint64_t cur = __atomic_load_n(slot, __ATOMIC_RELAXED);
    while (cur < v && !__atomic_compare_exchange_n(slot, &cur, v, 1, __ATOMIC_RELEASE,
                                                   __ATOMIC_RELAXED))
        ;
}

static uint32_t nm_ring_sum(uint64_t seq, uint32_t n, const uint64_t *dir)
{
    uint64_t h = seq * 0xff51afd7ed558ccdULL ^ n;
    for (uint32_t i = 0; i < NM_RING_DIRS; i++)
        h = (h ^ dir[i]) * 0x100000001b3ULL;
    h ^= h >> 29;
    return (uint32_t)h | 1;
}

uint64_t nodemeta_mark_local(struct nodemeta *nm, const uint64_t *dirs, int n)
{
    if (n > NM_RING_DIRS || (n > 0 && !dirs))
        n = -1;
    uint64_t before = __atomic_fetch_add(&nm->page->gen, 1, __ATOMIC_ACQ_REL), s = before + 1;
    uint64_t d[NM_RING_DIRS] = { 0 };
    for (int i = 0; i < n; i++) {
        d[i] = dirs[i];
        nm_max(&nm->local_last[nm_slot_of(dirs[i])], s);
    }
    if (n <= 0)
        nm_max(&nm->page->all_local, s);
    struct nm_ring_slot *e = &nm->ring[s % NM_RING];
    uint32_t cnt = n <= 0 ? NM_RING_ALL : (uint32_t)n;
    __atomic_store_n(&e->seq, 0, __ATOMIC_RELAXED);
    __atomic_thread_fence(__ATOMIC_RELEASE);
    __atomic_store_n(&e->n, cnt, __ATOMIC_RELAXED);
    for (int i = 0; i < NM_RING_DIRS; i++)
        __atomic_store_n(&e->dir[i], d[i], __ATOMIC_RELAXED);
    __atomic_store_n(&e->sum, nm_ring_sum(s, cnt, d), __ATOMIC_RELAXED);
    __atomic_store_n(&e->seq, s, __ATOMIC_RELEASE);
    return before;
}

uint64_t nodemeta_bump(struct nodemeta *nm)
{
    return nodemeta_mark_local(nm, NULL, -1);
}

int nodemeta_local_changes(const struct nodemeta *nm, uint64_t from, uint64_t to, uint64_t *dirs,
                           int cap)
{
    if (to < from || to - from > NM_RING)
        return -1;
    int n = 0;
    for (uint64_t s = from + 1; s <= to; s++) {
        const struct nm_ring_slot *e = &nm->ring[s % NM_RING];
        if (__atomic_load_n(&e->seq, __ATOMIC_ACQUIRE) != s)
            return -1;      /* being written, overwritten, or bumped by an older build */
        uint64_t d[NM_RING_DIRS];
        uint32_t cnt = __atomic_load_n(&e->n, __ATOMIC_RELAXED);
        uint32_t sum = __atomic_load_n(&e->sum, __ATOMIC_RELAXED);
        for (int i = 0; i < NM_RING_DIRS; i++)
            d[i] = __atomic_load_n(&e->dir[i], __ATOMIC_RELAXED);
        __atomic_thread_fence(__ATOMIC_ACQUIRE);
        if (__atomic_load_n(&e->seq, __ATOMIC_RELAXED) != s || sum != nm_ring_sum(s, cnt, d) ||
            cnt > NM_RING_DIRS)
            return -1;      /* torn, or "everything" */
        for (uint32_t i = 0; i < cnt; i++) {
            int k = 0;
            while (k < n && dirs[k] != d[i])
                k++;
            if (k < n)
                continue;
            if (n == cap)
                return -1;
            dirs[n++] = d[i];
        }
    }
    return n;
}

void nodemeta_mark_remote(struct nodemeta *nm, const uint64_t *dirs, int n)
{
    uint64_t s = __atomic_add_fetch(&nm->page->rseq, 1, __ATOMIC_ACQ_REL);
    for (int i = 0; i < n; i++)
        nm_max(&nm->remote_last[nm_slot_of(dirs[i])], s);
    if (n < 0)
        nm_max(&nm->page->all_remote, s);
}

/* A chain's token bound to its floor: a page an older build's agent
 * restarted the chain in (floor moved, key left) matches no token. */
static uint64_t nm_chain_key(uint64_t token, uint64_t floor)
{
    return token ? token ^ ((floor + 1) * 0x9E3779B97F4A7C15ULL) : 0;
}

void nodemeta_chain_start(struct nodemeta *nm, uint64_t token)
{
    uint64_t s = __atomic_add_fetch(&nm->page->rseq, 1, __ATOMIC_ACQ_REL);
    __atomic_store_n(&nm->page->chain_key, nm_chain_key(token, s), __ATOMIC_RELAXED);
    __atomic_store_n(&nm->page->floor, s, __ATOMIC_RELEASE);
}

/* ---- the node agent's words ---- */

int64_t nodemeta_verified(const struct nodemeta *nm)
{
    return __atomic_load_n(&nm->page->verified_ns, __ATOMIC_ACQUIRE);
}

void nodemeta_set_verified(struct nodemeta *nm, int64_t wall, int64_t pid, uint64_t token)
{
    __atomic_store_n(&nm->page->agent_pid, pid, __ATOMIC_RELAXED);
    __atomic_store_n(&nm->page->token, token, __ATOMIC_RELAXED);
    /* release: whoever sees this time sees this token or a later one */
    __atomic_store_n(&nm->page->verified_ns, wall, __ATOMIC_RELEASE);
}

uint64_t nodemeta_agent_token(const struct nodemeta *nm)
{
    /* acquire: read after nodemeta_verified, it is that poll's or newer */
    return __atomic_load_n(&nm->page->token, __ATOMIC_ACQUIRE);
}

int64_t nodemeta_agent_pid(const struct nodemeta *nm)
{
    return __atomic_load_n(&nm->page->agent_pid, __ATOMIC_RELAXED);
}

void nodemeta_touch(struct nodemeta *nm, int64_t now)
{
    /* at most one store a second per process: the line is shared */
    if (now - __atomic_load_n(&nm->page->used_ns, __ATOMIC_RELAXED) > 1000000000LL)
        __atomic_store_n(&nm->page->used_ns, now, __ATOMIC_RELAXED);
}

int64_t nodemeta_used(const struct nodemeta *nm)
{
    return __atomic_load_n(&nm->page->used_ns, __ATOMIC_RELAXED);
}

int nodemeta_claim_spawn(struct nodemeta *nm, int64_t now, int64_t every_ns)
{
    int64_t last = __atomic_load_n(&nm->page->spawn_ns, __ATOMIC_RELAXED);
    if (now - last < every_ns && now - last > -every_ns)
        return 0;
    return __atomic_compare_exchange_n(&nm->page->spawn_ns, &last, now, 0, __ATOMIC_ACQ_REL,
                                       __ATOMIC_RELAXED);
}

int nodemeta_replaced(const struct nodemeta *nm)
{
    struct stat st;
    return fstatat(nm->dirfd, "gen", &st, AT_SYMLINK_NOFOLLOW) < 0 || st.st_dev != nm->gen_dev ||
           st.st_ino != nm->gen_ino;
}

int nodemeta_agent_lock(struct nodemeta *nm)
{
    int fd = trust_file_open(nm->dirfd, "agent.lock", O_RDWR | O_CREAT, 0600);
    if (fd < 0)
        return fd;
    if (flock(fd, LOCK_EX | LOCK_NB) < 0) {
        int e = errno == EWOULDBLOCK ? -EBUSY : -errno;
        close(fd);
        return e;
    }
    return fd;
}

/* ---- files ---- */

/* The name of a folder's file of kind 'd' (its snapshot) or 'x' (the
 * delta patching it): the letter and the inode in hex. */
static void nm_file_name(char out[32], char kind, uint64_t dir)
{
    snprintf(out, 32, "%c%llx", kind, (unsigned long long)dir);
}

/* Header + payload under name, atomically replacing what was there. */
static int nm_publish(struct nodemeta *nm, const char *name, struct nm_header *h,
                      const void *payload, size_t len)
{
    char tmp[96];
    static unsigned seq;
    snprintf(tmp, sizeof tmp, ".tmp-%ld-%u", (long)getpid(), __atomic_add_fetch(&seq, 1, __ATOMIC_RELAXED));
    h->magic = NM_MAGIC;
    h->version = NM_VERSION;
    h->attr_size = sizeof(struct meta_attr);
    h->slice_size = sizeof(struct layout_slice);
    h->settings_size = sizeof(struct meta_settings);
    h->payload_len = len;
    h->sum = XXH3_64bits(payload, len);
    int fd = openat(nm->dirfd, tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (fd < 0)
        return -errno;
    int rc = io_write_all(fd, h, sizeof *h);
    if (rc == 0)
        rc = io_write_all(fd, payload, len);
    close(fd);
    if (rc == 0 && renameat(nm->dirfd, tmp, nm->dirfd, name) < 0)
        rc = -errno;
    if (rc < 0)
        unlinkat(nm->dirfd, tmp, 0);
    return rc;
}

/* A snapshot the agent's chain of polls covers, with no change to its
 * directory seen in the database since its question, was exact when the
 * agent's last poll began: its times move up to that poll, and the
 * caller's TTL counts from there. */
static void nm_vouched(struct nm_header *h, int64_t verified)
{
    if (verified > h->fetched_ns)
        h->fetched_ns = verified;
    if (h->has_dir_attr && verified > h->dir_attr_ns)
        h->dir_attr_ns = verified;
}

/* Whether a local commit changed dir (0: a blob, changed only by commits
 * whose directories are unknown) since local sequence gen. */
static int nm_changed_here(const struct nodemeta *nm, uint64_t dir, uint64_t gen)
{
    if (__atomic_load_n(&nm->page->all_local, __ATOMIC_ACQUIRE) > gen)
        return 1;
    return dir && __atomic_load_n(&nm->local_last[nm_slot_of(dir)], __ATOMIC_ACQUIRE) > gen;
}

/* Whether the agent may vouch for a snapshot of dir asked at agent
 * sequence rseq with change token token: every commit after the question
 * was seen by one of the chain's polls, and none of them saw dir change.
 * Read after nodemeta_verified: the marks of that poll are visible.
 * Every commit after the question is seen when the chain began before the
 * question, or when the question saw the very database state the chain's
 * first poll saw (the same token: no transaction committed between them,
 * and the chain reads every change that first poll did not see). The
 * second covers the answers of a cold node's first moments, asked before
 * its agent's first poll: 256 workers that start together ask them all
 * then, and on a busy node the agent's polls begin a second or more
 * later, past their TTL; without it each was asked again. */
static int nm_covered(const struct nodemeta *nm, uint64_t dir, uint64_t rseq, uint64_t token)
{
    uint64_t floor = __atomic_load_n(&nm->page->floor, __ATOMIC_ACQUIRE);
    if (!floor || (rseq < floor && (!token || __atomic_load_n(&nm->page->chain_key, __ATOMIC_RELAXED) !=
                                                  nm_chain_key(token, floor))))
        return 0;
    return __atomic_load_n(&nm->page->all_remote, __ATOMIC_ACQUIRE) <= rseq &&
           __atomic_load_n(&nm->remote_last[nm_slot_of(dir)], __ATOMIC_ACQUIRE) <= rseq;
}

/* What nm_load gave (len: the file's size). */
static void nm_unload(char *p, uint32_t kind, size_t len)
{
    if (p && kind == NM_KIND_DIR)
        munmap(p, len);
    else
        free(p);
}

/* Whether header h (of a file of st_size bytes) is one to read the rest
 * of: layout, kind, size, local changes since (when check_gen) and age at
 * `now`. */
static int nm_header_ok(struct nodemeta *nm, struct nm_header *h, uint32_t kind, uint64_t dir,
                        int64_t max_age_ns, int check_gen, int64_t verified, int64_t now,
                        off_t st_size)
{
    if (check_gen && kind == NM_KIND_DIR && h->token && verified && nm_covered(nm, dir, h->rseq, h->token))
        nm_vouched(h, verified);
    /* a torn or foreign file may hold any time: too far is stale */
    int64_t age;
    if (__builtin_sub_overflow(now, h->fetched_ns, &age))
        age = INT64_MAX;
    if (h->magic != NM_MAGIC || h->version != NM_VERSION || h->kind != kind ||
        h->attr_size != sizeof(struct meta_attr) || h->slice_size != sizeof(struct layout_slice) ||
        h->settings_size != sizeof(struct meta_settings) ||
        h->payload_len != (uint64_t)st_size - sizeof *h)
        return 0;
    if ((check_gen == 1 && nm_changed_here(nm, dir, h->gen)) ||
        (max_age_ns >= 0 && (age > max_age_ns || age < -max_age_ns)))
        return 0;
    return 1;
}

/* The whole file, checked: header layout, kind, size, checksum, local
 * changes since (when check_gen) and age. *buf holds header + payload.
 * The header is judged first: a stale snapshot of a big folder costs one
 * small read, not its megabytes. Its age counts at the call (`now` taken
 * before the read): max_age_ns is how long before the caller's question a
 * snapshot may have been answered (vfs_node_max_age: "not before this
 * process started"), so a read that takes a few milliseconds must not make
 * a snapshot vouched for just after that start look older than allowed
 * (a cold process then asked the database for a big folder the node held). */
static int nm_load(struct nodemeta *nm, const char *name, uint32_t kind, uint64_t dir,
                   int64_t max_age_ns, int check_gen, char **buf, struct nm_header *h)
{
    int64_t now = nodemeta_now();
    /* The agent's time before its marks (see nodemeta_set_verified). */
    int64_t verified = check_gen ? nodemeta_verified(nm) : 0;
    int fd = openat(nm->dirfd, name, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0)
        return -ENOENT;
    struct stat st;
    int rc = fstat(fd, &st) < 0 ? -errno : 0;
    if (rc == 0 && ((size_t)st.st_size < sizeof *h || (uint64_t)st.st_size > NM_MAX_FILE ||
                    trust_stat_ok(&st) < 0))
        rc = -ESTALE;
    struct nm_header raw = { 0 };
    if (rc == 0 && io_pread_full(fd, &raw, sizeof raw, 0) != (ssize_t)sizeof raw)
        rc = -ESTALE;
    *h = raw; /* (vouching moves its times: raw stays the file's) */
    if (rc == 0 && !nm_header_ok(nm, h, kind, dir, max_age_ns, check_gen, verified, now, st.st_size))
        rc = -ESTALE;
    /* a folder's snapshot is mapped, not copied: the node's readers of a
     * big folder (64 DataLoader workers, 12 MB for 120,000 entries) then
     * share its pages through the page cache instead of a copy each. A
     * published file is never written in place (nm_publish renames a new
     * one over it; only the x* deltas grow), so the mapping holds what was
     * judged. Private and writable: nothing here writes into it, but a
     * write would stay this process's. */
    char *p = NULL;
    if (rc == 0 && kind == NM_KIND_DIR) {
        void *m = mmap(NULL, (size_t)st.st_size, PROT_READ | PROT_WRITE, MAP_PRIVATE, fd, 0);
        if (m == MAP_FAILED)
            rc = -ENOMEM;
        else
            p = m;
    } else if (rc == 0) {
        p = malloc((size_t)st.st_size);
        if (!p)
            rc = -ENOMEM;
        else if (io_pread_full(fd, p, (size_t)st.st_size, 0) != st.st_size)
            rc = -ESTALE;
    }
    close(fd);
    /* the file is replaced whole (renamed over), never written in place:
     * the header read again with the payload is the one judged, or the
     * checksum tells */
    if (rc == 0 && (memcmp(p, &raw, sizeof raw) != 0 ||
                    XXH3_64bits(p + sizeof *h, (size_t)h->payload_len) != h->sum))
        rc = -ESTALE;
    if (rc < 0) {
        nm_unload(p, kind, (size_t)st.st_size);
        return rc;
    }
    *buf = p;
    return 0;
}

struct nodemeta_stamp nodemeta_stamp(const struct nodemeta *nm)
{
    struct nodemeta_stamp st = { nodemeta_gen(nm), nodemeta_now(),
                                 __atomic_load_n(&nm->page->rseq, __ATOMIC_ACQUIRE) };
    return st;
}

int nodemeta_save_blob(struct nodemeta *nm, const char *name, struct nodemeta_stamp st,
                       const void *data, size_t len)
{
    struct nm_header h;
    memset(&h, 0, sizeof h);
    h.kind = NM_KIND_BLOB;
    h.gen = st.gen;
    h.fetched_ns = st.wall;
    return nm_publish(nm, name, &h, data, len);
}

static int nm_load_blob(struct nodemeta *nm, const char *name, uint64_t dir, int64_t max_age_ns,
                        int check_gen, void *data, size_t len)
{
    char *p;
    struct nm_header h;
    int rc = nm_load(nm, name, NM_KIND_BLOB, dir, max_age_ns, check_gen, &p, &h);
    if (rc < 0)
        return rc;
    if (h.payload_len != len)
        rc = -ESTALE;
    else
        memcpy(data, p + sizeof h, len);
    free(p);
    return rc;
}

int nodemeta_load_blob(struct nodemeta *nm, const char *name, int64_t max_age_ns, int check_gen,
                       void *data, size_t len)
{
    return nm_load_blob(nm, name, 0, max_age_ns, check_gen, data, len);
}

int nodemeta_load_dir_blob(struct nodemeta *nm, const char *name, uint64_t dir, int64_t max_age_ns,
                           void *data, size_t len)
{
    assert(dir);
    return nm_load_blob(nm, name, dir, max_age_ns, 1, data, len);
}

int nodemeta_save_settings(struct nodemeta *nm, struct nodemeta_stamp st,
                           const struct meta_settings *s)
{
    return nodemeta_save_blob(nm, "settings", st, s, sizeof *s);
}

int nodemeta_load_settings(struct nodemeta *nm, int64_t max_age_ns, struct meta_settings *s)
{
    /* a local commit never reformats the volume: any generation will do */
    return nodemeta_load_blob(nm, "settings", max_age_ns, 0, s, sizeof *s);
}

/* ---- directory snapshots ---- */

static void nm_put(struct nodemeta_buf *b, const void *src, size_t n)
{
    size_t padded = (n + 7) & ~(size_t)7;
    if (b->err)
        return;
    if (b->len + padded > b->cap) {
        size_t cap = b->cap ? b->cap * 2 : 16384;
        while (cap < b->len + padded)
            cap *= 2;
        char *p = cap <= NM_MAX_FILE ? realloc(b->p, cap) : NULL;
        if (!p) {
            b->err = -ENOMEM;
            return;
        }
        b->p = p;
        b->cap = cap;
    }
    if (n)  /* an empty name or list may come as NULL */
        memcpy(b->p + b->len, src, n);
    memset(b->p + b->len + n, 0, padded - n);
    b->len += padded;
}

void nodemeta_dir_begin(struct nodemeta_buf *b, uint64_t dir, struct nodemeta_stamp st,
                        const struct meta_attr *dir_attr, int64_t dir_attr_ns)
{
    struct nm_header h;
    memset(&h, 0, sizeof h);
    h.kind = NM_KIND_DIR;
    h.gen = st.gen;
    h.rseq = st.rseq;
    h.fetched_ns = st.wall;
    h.dir = dir;
    if (dir_attr) {
        h.has_dir_attr = 1;
        h.dir_attr = *dir_attr;
        h.dir_attr_ns = dir_attr_ns;
    }
    *b = (struct nodemeta_buf){ 0 };
    nm_put(b, &h, sizeof h);
}

void nodemeta_dir_entry(struct nodemeta_buf *b, const char *name, size_t nlen,
                        const struct meta_attr *a)
{
    struct nm_entry e;
    memset(&e, 0, sizeof e);
    e.tag = NM_TAG_ENTRY;
    e.nlen = (uint32_t)nlen;
    e.a = *a;
    b->entries++;
    nm_put(b, &e, sizeof e);
    nm_put(b, name, nlen);
}

void nodemeta_fold_begin(struct nodemeta_buf *b, uint64_t dir, const struct nodemeta_snap *s)
{
    nodemeta_dir_begin(b, dir, s->asked, s->has_dir_attr ? &s->dir_attr : NULL,
                       s->dir_attr_asked_ns);
}

int nodemeta_fold_commit(struct nodemeta *nm, struct nodemeta_buf *b, const struct nodemeta_snap *s)
{
    return nodemeta_dir_commit(nm, b, s->token);
}

void nodemeta_dir_chunk(struct nodemeta_buf *b, uint64_t chunk, const struct layout_slice *s, int n)
{
    struct nm_chunk c = { NM_TAG_CHUNK, (uint32_t)n, chunk };
    nm_put(b, &c, sizeof c);
    nm_put(b, s, (size_t)n * sizeof *s);
}

int nodemeta_dir_commit(struct nodemeta *nm, struct nodemeta_buf *b, uint64_t token)
{
    if (b->err)
        return b->err;
    assert(b->p && b->len >= sizeof(struct nm_header)); /* nodemeta_dir_begin came first */
    struct nm_header h;
    memcpy(&h, b->p, sizeof h);
    h.token = token;
    h.entries = b->entries;
    char name[32];
    nm_file_name(name, 'd', h.dir);
    int rc = nm_publish(nm, name, &h, b->p + sizeof h, b->len - sizeof h);
    return rc;
}

void nodemeta_buf_free(struct nodemeta_buf *b)
{
    free(b->p);
    *b = (struct nodemeta_buf){ 0 };
}

/* ---- deltas: a snapshot patched with changes since it was taken ----
 * File "x<dir>": a header naming the snapshot it patches (its checksum
 * and generation), then groups appended under the node's patch lock, one
 * per commit (the node's own, or one the agent read from the change log):
 * { head, up to two records, their block maps, tail }, one checksum over
 * the group. A record is a name set with its attributes (and its file's
 * whole block map when the patcher had it: the agent has, from the same
 * snapshot as the attributes), touched, or gone. Appends are one write
 * each: a reader takes the groups that check, in order, up to the first
 * that does not (one being written), and the sequence of the last one
 * taken is what the delta covers; the tail lets a patcher find that
 * sequence from the file's end without reading the rest. */
#define NM_DELTA_RECS 2
struct nm_delta_rec {
    uint32_t tag, nlen;
    struct meta_attr a;
    /* has_map: map_len bytes of chunk records (as a snapshot's) at
     * map_off of the group's maps (of s->delta_maps once loaded) are the
     * file's whole block map; 0: none known, its readers ask */
    uint32_t has_map, map_off, map_len, pad;
    int64_t at_ns; /* NM_TAG_DIR: when a was asked (wall clock) */
    char name[META_NAME_MAX + 1];
};
struct nm_group_head {
    uint64_t seq;
    uint32_t n, bytes; /* records; the whole group's bytes, tail included */
    uint64_t sum;      /* XXH3 of the group with sum 0 */
};
struct nm_group_tail {
    uint64_t seq;
    uint32_t bytes, pad;
};
#define NM_MAP_BYTES_MAX \
    ((size_t)META_CHANGE_MAP_MAX * (sizeof(struct nm_chunk) + sizeof(struct layout_slice)))
#define NM_GROUP_MAX \
    (sizeof(struct nm_group_head) + \
     NM_DELTA_RECS * (sizeof(struct nm_delta_rec) + NM_MAP_BYTES_MAX) + \
     sizeof(struct nm_group_tail))

/* The group at p (at most avail bytes), checked: its byte count, or 0
 * when it is not whole (being written, torn, or not a group). */
static size_t nm_group_check(char *p, size_t avail)
{
    struct nm_group_head hd;
    struct nm_group_tail tl;
    if (avail < sizeof hd + sizeof tl)
        return 0;
    memcpy(&hd, p, sizeof hd);
    if (hd.n > NM_DELTA_RECS || hd.bytes > avail || hd.bytes > NM_GROUP_MAX || hd.bytes % 8 ||
        hd.bytes < sizeof hd + hd.n * sizeof(struct nm_delta_rec) + sizeof tl)
        return 0;
    memcpy(&tl, p + hd.bytes - sizeof tl, sizeof tl);
    if (tl.seq != hd.seq || tl.bytes != hd.bytes)
        return 0;
    struct nm_group_head zero = hd;
    zero.sum = 0;
    memcpy(p, &zero, sizeof zero);
    uint64_t sum = XXH3_64bits(p, hd.bytes);
    memcpy(p, &hd, sizeof hd);
    return sum == hd.sum ? hd.bytes : 0;
}

/* Whether delta header h patches the snapshot with header bh. */
static int nm_delta_of(const struct nm_header *h, const struct nm_header *bh, uint64_t dir)
{
    return h->magic == NM_MAGIC && h->version == NM_VERSION && h->kind == NM_KIND_DELTA &&
           h->attr_size == sizeof(struct meta_attr) && h->dir == dir && h->token == bh->sum &&
           h->rseq == bh->gen;
}

/* The records of the group at g (checked) onto out[*n..] and their maps
 * onto maps[*mlen..], but a record of the directory's own attributes into
 * *self; -EBADMSG for a record that is not one. */
static int nm_group_take(const char *g, struct nm_delta_rec *out, size_t *n, char *maps,
                         size_t *mlen, struct nm_delta_rec *self)
{
    struct nm_group_head hd;
    memcpy(&hd, g, sizeof hd);
    size_t at = sizeof hd + hd.n * sizeof(struct nm_delta_rec);
    size_t avail = hd.bytes - at - sizeof(struct nm_group_tail);
    for (uint32_t k = 0; k < hd.n; k++) {
        struct nm_delta_rec r;
        memcpy(&r, g + sizeof hd + k * sizeof r, sizeof r);
        if (r.nlen == 0 || r.nlen > META_NAME_MAX)
            return -EBADMSG;
        if (r.tag == NM_TAG_DIR) {
            *self = r;
            continue;
        }
        if (r.has_map) {
            if (r.map_off % 8 || r.map_off > avail || r.map_len > avail - r.map_off)
                return -EBADMSG;
            memcpy(maps + *mlen, g + at + r.map_off, r.map_len);
            r.map_off = (uint32_t)*mlen;
            *mlen += r.map_len;
        }
        out[(*n)++] = r;
    }
    return 0;
}

/* The delta of dir's snapshot (base header bh) that makes it current
 * again after local commits: its records into s (flat, their maps in
 * s->delta_maps); 1 when it changes names of dir (and so dir's own
 * times), 0 when it only touches entries (subfolders' times), or -ESTALE.
 * *self: the last record of dir's own attributes when no name changed
 * after it (tag 0: none). */
static int nm_load_delta(struct nodemeta *nm, uint64_t dir, const struct nm_header *bh,
                         struct nodemeta_snap *s, struct nm_delta_rec *self, uint64_t *upto,
                         int fold)
{
    memset(self, 0, sizeof *self);
    char name[32];
    nm_file_name(name, 'x', dir);
    int fd = openat(nm->dirfd, name, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0)
        return -ESTALE;
    struct stat st;
    struct nm_header h;
    int rc = fstat(fd, &st) < 0 || trust_stat_ok(&st) < 0 || st.st_size < (off_t)sizeof h ||
                     st.st_size > (off_t)(sizeof h + NM_DELTA_BYTES)
                 ? -ESTALE
                 : 0;
    size_t size = rc == 0 ? (size_t)st.st_size : 0;
    /* each record is in the file whole, and so is each byte of a map */
    size_t cap = size / sizeof(struct nm_delta_rec) + 1;
    char *p = rc == 0 ? malloc(size) : NULL;
    struct nm_delta_rec *out = rc == 0 ? malloc(cap * sizeof *out) : NULL;
    char *maps = rc == 0 ? malloc(size ? size : 1) : NULL;
    if (rc == 0 && (!p || !out || !maps))
        rc = -ENOMEM;
    if (rc == 0 && io_pread_full(fd, p, size, 0) != (ssize_t)size)
        rc = -ESTALE;
    close(fd);
    if (rc == 0) {
        memcpy(&h, p, sizeof h);
        if (!nm_delta_of(&h, bh, dir))
            rc = -ESTALE;
    }
    uint64_t covered = bh->gen;
    size_t n = 0, mlen = 0;
    int names = 0;
    for (size_t o = sizeof h; rc == 0 && o < size;) {
        size_t bytes = nm_group_check(p + o, size - o);
        struct nm_group_head hd;
        if (bytes)
            memcpy(&hd, p + o, sizeof hd);
        if (!bytes || hd.seq <= covered)
            break; /* being written, or torn: what follows is not taken */
        size_t first = n, had = mlen;
        struct nm_delta_rec own = *self;
        if (nm_group_take(p + o, out, &n, maps, &mlen, &own) < 0) {
            n = first;
            mlen = had;
            break;
        }
        covered = hd.seq;
        for (size_t k = first; k < n; k++)
            if (out[k].tag != NM_TAG_TOUCH && out[k].tag != NM_TAG_SAME) {
                names = 1;
                own.tag = 0; /* names changed after it: dir's times did */
            }
        *self = own;
        o += bytes;
    }
    free(p);
    /* a fold takes what the delta holds: the commits after it are the
     * folded snapshot's to cover, by the same rule */
    if (rc == 0 && !fold && nm_changed_here(nm, dir, covered))
        rc = -ESTALE;
    if (rc < 0) {
        free(out);
        free(maps);
        return rc;
    }
    *upto = covered;
    s->delta = (char *)out;
    s->delta_len = n * sizeof *out;
    s->delta_pos = 0;
    s->delta_maps = maps;
    s->delta_maps_len = mlen;
    return names;
}

static int nm_dir_load(struct nodemeta *nm, uint64_t dir, int64_t max_age_ns, int fold,
                       struct nodemeta_snap *s)
{
    char name[32];
    struct nm_header h;
    nm_file_name(name, 'd', dir);
    memset(s, 0, sizeof *s);
    nodemeta_touch(nm, nodemeta_now()); /* keeps the agent serving the node */
    int rc = nm_load(nm, name, NM_KIND_DIR, dir, max_age_ns, 2, &s->p, &h);
    if (rc < 0)
        return rc;
    s->len = sizeof h + (size_t)h.payload_len; /* the mapping's (nodemeta_snap_free) */
    int names = 0;
    struct nm_delta_rec self = { 0 };
    struct nm_header raw; /* the file's, before vouching moved its times */
    memcpy(&raw, s->p, sizeof raw);
    uint64_t covered = raw.gen;
    if (h.dir != dir || (nm_changed_here(nm, dir, h.gen) &&
                         (names = nm_load_delta(nm, dir, &h, s, &self, &covered, fold)) < 0)) {
        nodemeta_snap_free(s);
        return -ESTALE;
    }
    s->asked = (struct nodemeta_stamp){ covered, raw.fetched_ns, raw.rseq };
    s->token = raw.token;
    s->dir_attr_asked_ns = self.tag == NM_TAG_DIR ? self.at_ns : raw.dir_attr_ns;
    if (self.tag == NM_TAG_DIR) {
        /* the patcher's word on them (the agent's, with others' names) */
        h.has_dir_attr = 1;
        h.dir_attr = self.a;
        /* as fresh as the snapshot when the agent vouches for it (no
         * change to dir seen since the patch) */
        h.dir_attr_ns = self.at_ns > h.fetched_ns ? self.at_ns : h.fetched_ns;
    } else if (names) {
        h.has_dir_attr = 0; /* the local commits changed it: asked again */
    }
    s->len = sizeof h + (size_t)h.payload_len;
    s->pos = sizeof h;
    s->fetched_ns = h.fetched_ns;
    s->has_dir_attr = (int)h.has_dir_attr;
    s->dir_attr = h.dir_attr;
    s->dir_attr_ns = h.dir_attr_ns;
    return 0;
}

int nodemeta_dir_load(struct nodemeta *nm, uint64_t dir, int64_t max_age_ns,
                      struct nodemeta_snap *s)
{
    return nm_dir_load(nm, dir, max_age_ns, 0, s);
}

int nodemeta_fold_load(struct nodemeta *nm, uint64_t dir, struct nodemeta_snap *s)
{
    return nm_dir_load(nm, dir, -1, 1, s);
}

int nodemeta_snap_next(struct nodemeta_snap *s, const char **name, size_t *nlen,
                       struct meta_attr *a, uint64_t *chunk, const struct layout_slice **slices,
                       int *n)
{
    assert(s->p && s->pos <= s->len); /* a snapshot nodemeta_dir_load gave */
    if (s->pos >= s->len)
        return 0;
    if (s->len - s->pos < sizeof(uint32_t) * 2)
        return -EBADMSG;
    uint32_t tag;
    memcpy(&tag, s->p + s->pos, sizeof tag);
    if (tag == NM_TAG_ENTRY) {
        struct nm_entry e;
        if (s->len - s->pos < sizeof e)
            return -EBADMSG;
        memcpy(&e, s->p + s->pos, sizeof e);
        size_t padded = ((size_t)e.nlen + 7) & ~(size_t)7;
        if (e.nlen == 0 || e.nlen > META_NAME_MAX || s->len - s->pos - sizeof e < padded)
            return -EBADMSG;
        *name = s->p + s->pos + sizeof e;
        *nlen = e.nlen;
        *a = e.a;
        s->pos += sizeof e + padded;
        return 1;
    }
    if (tag == NM_TAG_CHUNK) {
        struct nm_chunk c;
        if (s->len - s->pos < sizeof c)
            return -EBADMSG;
        memcpy(&c, s->p + s->pos, sizeof c);
        size_t bytes = (size_t)c.n * sizeof(struct layout_slice);
        if (c.n > (1u << 20) || s->len - s->pos - sizeof c < bytes)
            return -EBADMSG;
        *chunk = c.index;
        *slices = (const struct layout_slice *)(const void *)(s->p + s->pos + sizeof c);
        *n = (int)c.n;
        s->pos += sizeof c + bytes;
        return 2;
    }
    return -EBADMSG;
}

void nodemeta_snap_free(struct nodemeta_snap *s)
{
    nm_unload(s->p, NM_KIND_DIR, s->len);
    free(s->delta);
    free(s->delta_maps);
    s->p = s->delta = s->delta_maps = NULL;
}

int nodemeta_delta_next(struct nodemeta_snap *s, const char **name, size_t *nlen,
                        struct meta_attr *a)
{
    assert(s->delta && s->delta_pos <= s->delta_len);
    struct nm_delta_rec *r;
    if (s->delta_len - s->delta_pos < sizeof *r)
        return 0;
    r = (struct nm_delta_rec *)(void *)(s->delta + s->delta_pos);
    if ((r->tag != NM_TAG_ENTRY && r->tag != NM_TAG_GONE && r->tag != NM_TAG_TOUCH &&
         r->tag != NM_TAG_SAME) ||
        r->nlen == 0 || r->nlen > META_NAME_MAX)
        return -EBADMSG;
    *name = r->name;
    *nlen = r->nlen;
    *a = r->a;
    s->delta_pos += sizeof *r;
    return r->tag == NM_TAG_ENTRY ? 1 : r->tag == NM_TAG_GONE ? 2 : r->tag == NM_TAG_TOUCH ? 3 : 4;
}

void nodemeta_delta_set(struct nodemeta_snap *s, size_t pos, const struct meta_attr *a)
{
    assert(s->delta && pos + sizeof(struct nm_delta_rec) <= s->delta_len);
    struct nm_delta_rec *r = (struct nm_delta_rec *)(void *)(s->delta + pos);
    r->tag = a ? NM_TAG_ENTRY : NM_TAG_GONE;
    if (a)
        r->a = *a;
}

void nodemeta_delta_take_map(struct nodemeta_snap *s, size_t pos, size_t from)
{
    assert(s->delta && pos + sizeof(struct nm_delta_rec) <= s->delta_len &&
           from + sizeof(struct nm_delta_rec) <= s->delta_len);
    struct nm_delta_rec *r = (struct nm_delta_rec *)(void *)(s->delta + pos);
    const struct nm_delta_rec *f = (const struct nm_delta_rec *)(const void *)(s->delta + from);
    r->has_map = f->has_map;
    r->map_off = f->map_off;
    r->map_len = f->map_len;
}

int nodemeta_delta_map(const struct nodemeta_snap *s, size_t pos, struct nodemeta_snap *map)
{
    assert(s->delta && pos + sizeof(struct nm_delta_rec) <= s->delta_len);
    const struct nm_delta_rec *r = (const struct nm_delta_rec *)(const void *)(s->delta + pos);
    /* (bounds checked as the delta was loaded) */
    if (!r->has_map || (r->tag != NM_TAG_ENTRY && r->tag != NM_TAG_SAME) || !s->delta_maps)
        return 0;
    *map = (struct nodemeta_snap){ .p = s->delta_maps,
                                   .pos = r->map_off,
                                   .len = (size_t)r->map_off + r->map_len };
    return 1;
}

/* The patch lock this thread holds across a commit (nodemeta_patch_hold):
 * its patch then appends under it rather than taking it again. */
static __thread struct {
    const struct nodemeta *nm;
    int fd;
} nm_held = { NULL, -1 };

/* One patcher at a time per node folder: a delta is read, extended and
 * replaced whole. Bounded: the holders read and write small files, or
 * (nodemeta_patch_hold) make one commit; a waiter gives up after about
 * 10 ms, and its change then leaves the snapshot stale rather than
 * patched. */
static int nm_patch_lock(struct nodemeta *nm)
{
    int fd = openat(nm->dirfd, "patch.lock", O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (fd < 0)
        return -errno;
    for (int i = 0; i < 200; i++) {
        if (flock(fd, LOCK_EX | LOCK_NB) == 0)
            return fd;
        if (errno != EWOULDBLOCK && errno != EINTR)
            break;
        struct timespec ts = { 0, 50000 };
        nanosleep(&ts, NULL);
    }
    close(fd);
    return -EBUSY;
}

int nodemeta_patch_hold(struct nodemeta *nm)
{
    assert(nm_held.fd < 0);
    int fd = nm_patch_lock(nm);
    if (fd >= 0) {
        nm_held.nm = nm;
        nm_held.fd = fd;
    }
    return fd < 0 ? fd : 0;
}

void nodemeta_patch_release(const struct nodemeta *nm)
{
    if (nm_held.fd < 0 || nm_held.nm != nm)
        return;
    close(nm_held.fd);
    nm_held.nm = NULL;
    nm_held.fd = -1;
}

/* The header of dir's snapshot file, checked for layout (its payload is
 * checked by its readers). */
static int nm_base_header(struct nodemeta *nm, uint64_t dir, struct nm_header *h)
{
    char name[32];
    nm_file_name(name, 'd', dir);
    int fd = openat(nm->dirfd, name, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0)
        return -ENOENT;
    ssize_t got = io_pread_full(fd, h, sizeof *h, 0);
    close(fd);
    if (got != (ssize_t)sizeof *h || h->magic != NM_MAGIC || h->version != NM_VERSION ||
        h->kind != NM_KIND_DIR || h->dir != dir || h->attr_size != sizeof(struct meta_attr))
        return -ESTALE;
    return 0;
}

int nodemeta_dir_held(struct nodemeta *nm, uint64_t dir)
{
    struct nm_header h;
    int rc = nm_base_header(nm, dir, &h);
    return rc < 0 ? -ENOENT : (int)(h.entries > INT_MAX ? INT_MAX : h.entries);
}

/* Whether the delta covering local commits up to `covered` may take
 * commit seq: no other local commit changed dir in between, and seq's
 * own directories are known. */
static int nm_patch_follows(const struct nodemeta *nm, uint64_t dir, uint64_t covered, uint64_t seq)
{
    uint64_t d[NM_RING_DIRS];
    if (seq <= covered || nodemeta_local_changes(nm, seq - 1, seq, d, NM_RING_DIRS) < 0)
        return 0;
    return !nodemeta_local_changed(nm, dir, covered, seq - 1);
}

int nodemeta_local_changed(const struct nodemeta *nm, uint64_t dir, uint64_t from, uint64_t to)
{
    uint64_t d[256];
    if (to <= from)
        return 0;
    int n = nodemeta_local_changes(nm, from, to, d, (int)(sizeof d / sizeof d[0]));
    if (n < 0)
        return 1;
    for (int i = 0; i < n; i++)
        if (d[i] == dir)
            return 1;
    return 0;
}

/* The delta file of dir patching the snapshot with header bh, open for
 * appending, with the sequence its last group covers (a new one, written
 * aside and renamed into place, when there is none for that snapshot). */
static int nm_delta_open(struct nodemeta *nm, uint64_t dir, const struct nm_header *bh,
                         uint64_t *covered, off_t *end)
{
    char name[32];
    struct nm_header h;
    struct stat st;
    nm_file_name(name, 'x', dir);
    int fd = openat(nm->dirfd, name, O_RDWR | O_CLOEXEC | O_NOFOLLOW);
    if (fd >= 0 && fstat(fd, &st) == 0 && trust_stat_ok(&st) == 0 &&
        st.st_size >= (off_t)sizeof h && io_pread_full(fd, &h, sizeof h, 0) == (ssize_t)sizeof h &&
        nm_delta_of(&h, bh, dir)) {
        *covered = bh->gen;
        *end = st.st_size;
        if (st.st_size == (off_t)sizeof h)
            return fd;
        /* the last group, found from its tail */
        struct nm_group_tail tl;
        size_t room = (size_t)st.st_size - sizeof h;
        char *g = NULL;
        int ok =
            room >= sizeof tl &&
            io_pread_full(fd, &tl, sizeof tl, st.st_size - (off_t)sizeof tl) ==
                (ssize_t)sizeof tl &&
            tl.bytes >= sizeof(struct nm_group_head) + sizeof tl && tl.bytes <= room &&
            tl.bytes <= NM_GROUP_MAX && (g = malloc(tl.bytes)) &&
            io_pread_full(fd, g, tl.bytes, st.st_size - (off_t)tl.bytes) == (ssize_t)tl.bytes &&
            nm_group_check(g, tl.bytes) == tl.bytes;
        free(g);
        if (!ok) {
            close(fd);
            return -ESTALE; /* a torn group: left to go stale */
        }
        *covered = tl.seq;
        return fd;
    }
    if (fd >= 0)
        close(fd);
    memset(&h, 0, sizeof h);
    h.kind = NM_KIND_DELTA;
    h.dir = dir;
    h.token = bh->sum;
    h.rseq = bh->gen;
    int rc = nm_publish(nm, name, &h, NULL, 0);
    if (rc < 0)
        return rc;
    fd = openat(nm->dirfd, name, O_RDWR | O_CLOEXEC | O_NOFOLLOW);
    *covered = bh->gen;
    *end = (off_t)sizeof h;
    return fd < 0 ? -errno : fd;
}

/* A change's block map as a snapshot's chunk records, onto b: 1 when it
 * went, 0 when it has none to give (none known, too long, or not in
 * chunk order). */
static int nm_map_put(struct nodemeta_buf *b, const struct nodemeta_change *c)
{
    if (!c->a || !c->with_map || c->nmap < 0 || c->nmap > META_CHANGE_MAP_MAX ||
        (c->nmap > 0 && !c->map))
        return 0;
    for (int i = 1; i < c->nmap; i++)
        if (c->map[i].chunk < c->map[i - 1].chunk)
            return 0;
    for (int i = 0, j; i < c->nmap; i = j) {
        for (j = i + 1; j < c->nmap && c->map[j].chunk == c->map[i].chunk; j++)
            ;
        struct nm_chunk k = { NM_TAG_CHUNK, (uint32_t)(j - i), c->map[i].chunk };
        nm_put(b, &k, sizeof k);
        for (int x = i; x < j; x++)
            nm_put(b, &c->map[x].s, sizeof c->map[x].s);
    }
    return 1;
}

/* One delta group of commit seq for changes c[0..n), into b. */
static void nm_group_build(struct nodemeta_buf *b, uint64_t seq, const struct nodemeta_change *c,
                           int n)
{
    struct nm_group_head hd = { .seq = seq, .n = (uint32_t)n };
    struct nm_delta_rec r[NM_DELTA_RECS];
    memset(r, 0, sizeof r);
    *b = (struct nodemeta_buf){ 0 };
    nm_put(b, &hd, sizeof hd);
    nm_put(b, r, (size_t)n * sizeof r[0]); /* filled in below */
    size_t maps = b->len;
    for (int i = 0; i < n; i++) {
        assert(c[i].self ? c[i].a != NULL : c[i].nlen > 0 && c[i].nlen <= META_NAME_MAX);
        r[i].tag = c[i].self         ? NM_TAG_DIR
                   : !c[i].a         ? NM_TAG_GONE
                   : c[i].touch == 2 ? NM_TAG_SAME
                   : c[i].touch      ? NM_TAG_TOUCH
                                     : NM_TAG_ENTRY;
        if (c[i].a)
            r[i].a = *c[i].a;
        if (c[i].self) {
            r[i].nlen = 1;
            r[i].name[0] = '.';
            r[i].at_ns = c[i].at_ns;
            continue;
        }
        r[i].nlen = (uint32_t)c[i].nlen;
        memcpy(r[i].name, c[i].name, c[i].nlen);
        size_t at = b->len;
        if (r[i].tag != NM_TAG_TOUCH && nm_map_put(b, &c[i])) {
            r[i].has_map = 1;
            r[i].map_off = (uint32_t)(at - maps);
            r[i].map_len = (uint32_t)(b->len - at);
        }
    }
    struct nm_group_tail tl = { .seq = seq };
    nm_put(b, &tl, sizeof tl);
    if (b->err)
        return;
    hd.bytes = tl.bytes = (uint32_t)b->len;
    memcpy(b->p + b->len - sizeof tl, &tl, sizeof tl);
    memcpy(b->p + sizeof hd, r, (size_t)n * sizeof r[0]);
    memcpy(b->p, &hd, sizeof hd);
    hd.sum = XXH3_64bits(b->p, b->len);
    memcpy(b->p, &hd, sizeof hd);
}

int nodemeta_dir_patch(struct nodemeta *nm, uint64_t dir, uint64_t seq,
                       const struct nodemeta_change *c, int n)
{
    assert(n > 0 && n <= NM_DELTA_RECS && c);
    /* Most folders a process writes in have no snapshot on the node:
     * asked first, without the lock, that costs one call instead of four
     * (each create and close patches two folders). A snapshot published
     * after this look is covered as one published before the lock would
     * be: its readers take the local changes after its generation from
     * the ring. */
    char base[32];
    struct stat st;
    nm_file_name(base, 'd', dir);
    if (fstatat(nm->dirfd, base, &st, AT_SYMLINK_NOFOLLOW) < 0 && errno == ENOENT)
        return -ENOENT;
    struct nodemeta_buf g;
    nm_group_build(&g, seq, c, n);
    if (g.err) {
        int err = g.err;
        nodemeta_buf_free(&g);
        return err;
    }
    int held = nm_held.fd >= 0 && nm_held.nm == nm;
    int lock = held ? nm_held.fd : nm_patch_lock(nm);
    if (lock < 0) {
        nodemeta_buf_free(&g);
        return lock;
    }
    struct nm_header bh;
    uint64_t covered = 0;
    off_t end = 0;
    int fd = -1, rc = nm_base_header(nm, dir, &bh);
    if (rc == 0)
        rc = fd = nm_delta_open(nm, dir, &bh, &covered, &end);
    if (rc >= 0 && !nm_patch_follows(nm, dir, covered, seq))
        rc = -ESTALE;
    else if (rc >= 0 && (uint64_t)end + g.len > sizeof bh + NM_DELTA_BYTES)
        rc = -EFBIG; /* full: folded first (vfs_snap_patch), or left to go stale */
    if (rc >= 0)
        rc = io_pwrite_full(fd, g.p, g.len, end) == (ssize_t)g.len ? 0 : -EIO;
    if (fd >= 0)
        close(fd);
    if (!held)
        close(lock);
    nodemeta_buf_free(&g);
    return rc < 0 ? rc : 0;
}

/* The node's folder to read its names (a descriptor of its own: readdir
 * moves its offset), or NULL with *err. */
static DIR *nm_opendir(const struct nodemeta *nm, int *err)
{
    int fd = openat(nm->dirfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    DIR *d = fd >= 0 ? fdopendir(fd) : NULL;
    if (!d) {
        *err = -errno;
        if (fd >= 0)
            close(fd);
    }
    return d;
}

int nodemeta_sweep(struct nodemeta *nm, char kind, int64_t before_ns, int max)
{
    assert(nm && max >= 0);
    int err;
    DIR *d = nm_opendir(nm, &err);
    if (!d)
        return err;
    int gone = 0;
    struct dirent *de;
    while (gone < max && (de = readdir(d)) != NULL) {
        /* only answers' names: the kind's letter and 16 hex digits (the
         * locks, "gen", "settings", temporary files never match) */
        const char *n = de->d_name;
        if (n[0] != kind || strlen(n) != 17 || strspn(n + 1, "0123456789abcdef") != 16)
            continue;
        struct stat st;
        if (fstatat(nm->dirfd, n, &st, AT_SYMLINK_NOFOLLOW) < 0 || !S_ISREG(st.st_mode))
            continue;
        int64_t written = (int64_t)st.st_mtim.tv_sec * 1000000000LL + st.st_mtim.tv_nsec;
        if (written < before_ns && unlinkat(nm->dirfd, n, 0) == 0)
            gone++;
    }
    closedir(d);
    return gone;
}

/* Whether name is kind's letter and 1-16 lowercase hex digits (how "d"
 * and "x" files are named); *v: the number. */
static int nm_hex_name(const char *name, char kind, uint64_t *v)
{
    size_t n = strlen(name);
    if (name[0] != kind || n < 2 || n > 17 || strspn(name + 1, "0123456789abcdef") != n - 1)
        return 0;
    *v = strtoull(name + 1, NULL, 16);
    return 1;
}

/* name's file if it is still the one fd holds (a lister may have put a
 * new answer there since it was looked at: that one stays). */
static int nm_unlink_same(struct nodemeta *nm, const char *name, const struct stat *was)
{
    struct stat now;
    if (fstatat(nm->dirfd, name, &now, AT_SYMLINK_NOFOLLOW) < 0 || now.st_ino != was->st_ino ||
        now.st_dev != was->st_dev)
        return 0;
    return unlinkat(nm->dirfd, name, 0) == 0;
}

/* Whether the snapshot file open at fd can serve no one any more: written
 * before before_ns and not vouched for by the agent's chain (a folder the
 * chain saw change, or asked before a chain it does not share a state
 * with: neither ever becomes valid again), or not a snapshot of this
 * build at all. */
static int nm_dir_garbage(const struct nodemeta *nm, int fd, const struct stat *st, int64_t before_ns)
{
    int64_t written = (int64_t)st->st_mtim.tv_sec * 1000000000LL + st->st_mtim.tv_nsec;
    if (written >= before_ns)
        return 0;
    struct nm_header h;
    if (pread(fd, &h, sizeof h, 0) != (ssize_t)sizeof h || h.magic != NM_MAGIC ||
        h.version != NM_VERSION || h.kind != NM_KIND_DIR)
        return 1;
    return h.fetched_ns < before_ns && !(h.token && nm_covered(nm, h.dir, h.rseq, h.token));
}

int nodemeta_sweep_dirs(struct nodemeta *nm, int64_t before_ns, int max)
{
    assert(nm && max >= 0);
    int err;
    DIR *d = nm_opendir(nm, &err);
    if (!d)
        return err;
    int gone = 0;
    struct dirent *de;
    while (gone < max && (de = readdir(d)) != NULL) {
        uint64_t dir;
        char other[32];
        if (nm_hex_name(de->d_name, 'd', &dir)) {
            int f = openat(nm->dirfd, de->d_name, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
            struct stat st;
            int bad = f >= 0 && fstat(f, &st) == 0 && S_ISREG(st.st_mode) &&
                      nm_dir_garbage(nm, f, &st, before_ns);
            if (f >= 0)
                close(f);
            if (!bad || !nm_unlink_same(nm, de->d_name, &st))
                continue;
            gone++;
            /* its delta patches only it */
            nm_file_name(other, 'x', dir);
            (void)unlinkat(nm->dirfd, other, 0);
        } else if (nm_hex_name(de->d_name, 'x', &dir)) {
            /* a delta whose snapshot went (or never came) */
            struct stat st;
            nm_file_name(other, 'd', dir);
            if (fstatat(nm->dirfd, de->d_name, &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISREG(st.st_mode) &&
                (int64_t)st.st_mtim.tv_sec * 1000000000LL + st.st_mtim.tv_nsec < before_ns &&
                faccessat(nm->dirfd, other, F_OK, AT_SYMLINK_NOFOLLOW) < 0 &&
                nm_unlink_same(nm, de->d_name, &st))
                gone++;
        }
    }
    closedir(d);
    return gone;
}

