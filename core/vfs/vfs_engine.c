/* vfs_engine.c - the process's engine (vfs_engine.h): its one object,
 * opening its volume, and its fork handler.
 *
 * The volume is opened lazily on the first call that needs it. A failure
 * (no database, wrong password, volume not formatted, unreachable store) is
 * logged once and remembered for a few seconds, so a program hammering a
 * broken mount gets fast errors instead of a connection attempt per call,
 * and recovers by itself once the service is back.
 *
 * After fork the child walks the engine's parts once, in the order of
 * vfs_parts[]: the volume's handles first (connections, rings, pool
 * threads belong to the parent), then the vfs's own parts. A new part is a
 * new line there.
 */
#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "cache.h"
#include "fetch.h"
#include "io.h"
#include "log.h"
#include "thread.h"
#include "objstore.h"
#include "vfs_internal.h"

#define VFS_RETRY_NS (2LL * 1000000000LL)

/* All zeros (the initializers are), so it costs bss, not 1 MiB of the
 * library file: a part's non-zero default is set where it is first used. */
struct vfs_engine vfs_eng = {
    .open.lock = PTHREAD_MUTEX_INITIALIZER,
    .stats.lock = PTHREAD_MUTEX_INITIALIZER,
    .mc.lock = PTHREAD_MUTEX_INITIALIZER,
    .opens.lock = PTHREAD_MUTEX_INITIALIZER,
    .dirseq.lock = PTHREAD_MUTEX_INITIALIZER,
    .subdirs.lock = PTHREAD_MUTEX_INITIALIZER,
    .session.lock = PTHREAD_MUTEX_INITIALIZER,  /* its cond: made at first start */
    .ids.lock = PTHREAD_MUTEX_INITIALIZER,
    .maps.lock = PTHREAD_MUTEX_INITIALIZER,
    .wb = { .lock = PTHREAD_MUTEX_INITIALIZER, .cond = PTHREAD_COND_INITIALIZER,
            .recover = PTHREAD_MUTEX_INITIALIZER },
};

static const char *vfs_why(int rc)
{
    switch (rc) {
    case -ENODEV: return "the database holds no shimfs volume (run shimfs format)";
    case -EPROTO: return "the volume's schema is newer than this client";
    case -EACCES: return "the database refused the credentials";
    case -ECONNREFUSED: return "the database is unreachable";
    default: return strerror(-rc);
    }
}

/* The handles are set before `vol` is published: vfs_opened() readers see
 * them whole. The commit hook keeps this process's caches (mcache). */
static void vfs_engine_attach(struct vfs_engine *e, struct volume *v)
{
    struct volume_parts p;
    volume_get_parts(v, &p);
    e->meta = p.meta;
    e->store = p.store;
    e->cache = p.cache;
    e->node = p.node;
    e->dev = p.dev;
    e->cfg = *p.cfg;
    e->settings = *p.settings;
    volume_set_committed(v, mcache_own_commit);
    vfs_view_after_fork(e); /* (the same start: from now) */
    __atomic_store_n(&e->vol, v, __ATOMIC_RELEASE);
}

/* The slow path, out of line: vfs_init's fast path is one load. */
static __attribute__((noinline)) int vfs_engine_open(void)
{
    struct vfs_open_state *o = &vfs_eng.open;
    pthread_mutex_lock(&o->lock);
    int rc = 0;
    if (!vfs_eng.vol) {
        if (o->err && vfs_now_ns() < o->err_until) {
            rc = o->err;
        } else {
            struct shimfs_config cfg;
            config_load(&cfg);
            struct volume *v = NULL;
            /* the volume's long-lived descriptors (the cache folders, the
             * node's files, the database socket) land above the numbers
             * shells pick by hand (io.h); what the program itself moves
             * below meanwhile is its own */
            struct io_low was;
            io_hold_low(&was);
            rc = volume_open(&cfg, &v);
            (void)io_release_low(&was);
            if (rc == 0) {
                vfs_engine_attach(&vfs_eng, v);
                o->err = 0;
                vfs_wb_recover_async();
            } else {
                if (!o->logged++)
                    log_error("vfs", "cannot open the volume (%s): %s; paths under %s fail with EIO",
                              cfg.meta[0] ? "SHIMFS_META" : "SHIMFS_META unset, libpq defaults",
                              vfs_why(rc), cfg.prefix);
                o->err = rc == -ENOMEM ? rc : -EIO;
                o->err_until = vfs_now_ns() + VFS_RETRY_NS;
                rc = o->err;
            }
        }
    }
    pthread_mutex_unlock(&o->lock);
    return rc;
}

void vfs_host(const struct vfs_host *h)
{
    log_set_emit(h ? h->log_emit : NULL);
    thread_set_enter(h ? h->thread_enter : NULL);
}

int vfs_init(void)
{
    return vfs_opened() ? 0 : vfs_engine_open();
}

void vfs_before_setuid(void)
{
    if (vfs_opened())
        return; /* its node page is open already, and stays usable */
    struct shimfs_config cfg;
    config_load(&cfg);
    int rc = volume_keep_marks(&cfg);
    if (rc < 0)
        log_warn("vfs", "before a change of user: the node's shared metadata (%s): %s; this "
                 "process's commits reach the node's other processes only when their TTLs run out",
                 cfg.cache_dir, vfs_why(rc));
}

/* ---- after fork ---- */
/* The volume's handles: each forgets what belongs to the parent (its
 * connections, ring mappings, pool threads), none is closed. */
static void vfs_meta_after_fork(struct vfs_engine *e)
{
    volume_after_fork(e->vol);
    if (e->meta)
        meta_after_fork(e->meta);
}

static void vfs_store_after_fork(struct vfs_engine *e)
{
    if (e->store)
        obj_after_fork(e->store);
}

static void vfs_cache_after_fork(struct vfs_engine *e)
{
    if (e->cache)
        cache_after_fork(e->cache);
}

static void vfs_fetch_after_fork(struct vfs_engine *e)
{
    if (e->vol)
        fetch_after_fork();
}

#define PART_LOCK(part) offsetof(struct vfs_engine, part.lock)
#define NO_LOCK SIZE_MAX

/* A part's lock is made afresh (a parent thread may have held it at fork:
 * the child runs with that thread gone mid-critical-section), then its
 * reset forgets the rest of what the parent owns. Parts without a reset
 * hold nothing else the child must drop: the open-inode table is still
 * true (the child inherited the descriptors), the caches still answer. */
static const struct vfs_part {
    const char *name;
    size_t lock;                                /* offset of its mutex, or NO_LOCK */
    void (*after_fork)(struct vfs_engine *e);   /* or NULL */
} vfs_parts[] = {
    /* clang-format off */
    { "opening",           PART_LOCK(open),    NULL },
    { "metadata",          NO_LOCK,            vfs_meta_after_fork },
    { "object store",      NO_LOCK,            vfs_store_after_fork },
    { "node cache",        NO_LOCK,            vfs_cache_after_fork },
    { "fetch pool",        NO_LOCK,            vfs_fetch_after_fork },
    { "slice ids",         PART_LOCK(ids),     vfs_ids_after_fork },
    { "writeback",         PART_LOCK(wb),      vfs_wb_after_fork },
    { "write pipeline",    NO_LOCK,            vfs_upload_after_fork },
    { "session",           PART_LOCK(session), vfs_session_after_fork },
    { "open inodes",       PART_LOCK(opens),   NULL },
    { "mapped files",      PART_LOCK(maps),    vfs_maps_after_fork },
    { "node view",         NO_LOCK,            vfs_view_after_fork },
    { "metadata caches",   PART_LOCK(mc),      NULL },
    { "listed subdirs",    PART_LOCK(subdirs), NULL },
    { "directory maps",    PART_LOCK(dirseq),  NULL },
    { "volume figures",    PART_LOCK(stats),   NULL },
    /* clang-format on */
};

void vfs_after_fork(void)
{
    struct vfs_engine *e = &vfs_eng;
    for (size_t i = 0; i < sizeof vfs_parts / sizeof vfs_parts[0]; i++) {
        const struct vfs_part *p = &vfs_parts[i];
        if (p->lock != NO_LOCK) {
            pthread_mutex_t fresh = PTHREAD_MUTEX_INITIALIZER;
            *(pthread_mutex_t *)((char *)e + p->lock) = fresh;
        }
        if (p->after_fork)
            p->after_fork(e);
    }
}
