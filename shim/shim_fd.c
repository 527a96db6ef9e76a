/* shim_fd.c - the descriptor table (see shim_fd.h): lock-free slot reads,
 * refcounted open file descriptions, recycling without free, and the
 * constructor's scan for placeholders inherited across exec.
 */
#include "shim.h"

#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "shim_fd.h"
#include "shim_core.h"

struct shim_ofd ***shim_fd_dir;
unsigned shim_fd_cap;

static pthread_mutex_t shim_ofd_pool_lock = PTHREAD_MUTEX_INITIALIZER;
static struct shim_ofd *shim_ofd_pool;

/* The page directory, sized by the hard RLIMIT_NOFILE (the soft limit may
 * rise later), made once; racing makers agree through a CAS. */
static struct shim_ofd ***shim_fd_directory(void)
{
    struct shim_ofd ***dir = __atomic_load_n(&shim_fd_dir, __ATOMIC_ACQUIRE);
    if (dir)
        return dir;
    struct rlimit rl;
    rlim_t cap = 1u << 20;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_max != RLIM_INFINITY)
        cap = rl.rlim_max < (1u << 24) ? rl.rlim_max : (1u << 24);
    if (cap < 1024)
        cap = 1024;
    unsigned npages = (unsigned)((cap + SHIM_FD_PAGE_MASK) >> SHIM_FD_PAGE_SHIFT);
    struct shim_ofd ***fresh = calloc(npages, sizeof *fresh);
    if (!fresh)
        return NULL;
    /* cap is published before the directory that it bounds */
    __atomic_store_n(&shim_fd_cap, npages << SHIM_FD_PAGE_SHIFT, __ATOMIC_RELEASE);
    struct shim_ofd ***expected = NULL;
    if (!__atomic_compare_exchange_n(&shim_fd_dir, &expected, fresh, 0, __ATOMIC_ACQ_REL,
                                     __ATOMIC_ACQUIRE)) {
        free(fresh);
        return expected;
    }
    return fresh;
}

static struct shim_ofd **shim_fd_slot(int fd, int create)
{
    if (fd < 0)
        return NULL;
    struct shim_ofd ***dir = create ? shim_fd_directory() : __atomic_load_n(&shim_fd_dir, __ATOMIC_ACQUIRE);
    if (!dir || (unsigned)fd >= shim_fd_cap)
        return NULL;
    struct shim_ofd ***pp = &dir[(unsigned)fd >> SHIM_FD_PAGE_SHIFT];
    struct shim_ofd **page = __atomic_load_n(pp, __ATOMIC_ACQUIRE);
    if (!page && create) {
        struct shim_ofd **fresh = calloc(SHIM_FD_PAGE_MASK + 1, sizeof *fresh);
        if (!fresh)
            return NULL;
        struct shim_ofd **expected = NULL;
        if (__atomic_compare_exchange_n(pp, &expected, fresh, 0, __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE))
            page = fresh;
        else {
            free(fresh);
            page = expected;
        }
    }
    return page ? &page[(unsigned)fd & SHIM_FD_PAGE_MASK] : NULL;
}

static struct shim_ofd *shim_ofd_alloc(int kind)
{
    pthread_mutex_lock(&shim_ofd_pool_lock);
    struct shim_ofd *o = shim_ofd_pool;
    if (o)
        shim_ofd_pool = o->next_free;
    pthread_mutex_unlock(&shim_ofd_pool_lock);
    if (!o) {
        o = calloc(1, sizeof *o);
        if (!o)
            return NULL;
        pthread_mutex_init(&o->lock, NULL);
    }
    o->kind = kind;
    __atomic_store_n(&o->file, NULL, __ATOMIC_RELAXED);
    o->adopt_ino = 0;
    o->flags = O_RDONLY;
    o->native = o->isdir = o->unchecked = 0;
    o->dev = 0;
    o->ino = 0;
    o->dir = NULL;
    o->dir_base = o->dir_kpos = 0;
    o->host = NULL;
    o->wsize = 0;
    o->wmtime = 0;
    o->next_free = NULL;
    /* refs last: a racing pin of a recycled ofd fails until it is whole */
    __atomic_store_n(&o->refs, 1, __ATOMIC_RELEASE);
    return o;
}

static int shim_ofd_destroy(struct shim_ofd *o)
{
    if (o->dir)
        SHIM_VFS_VOID(dir_close, o->dir);
    o->dir = NULL;
    struct vfs_file *f = __atomic_load_n(&o->file, __ATOMIC_ACQUIRE);
    int rc = f ? SHIM_VFS(release, f) : 0;
    __atomic_store_n(&o->file, NULL, __ATOMIC_RELEASE);
    free(o->host);
    o->host = NULL;
    pthread_mutex_lock(&shim_ofd_pool_lock);
    o->next_free = shim_ofd_pool;
    shim_ofd_pool = o;
    pthread_mutex_unlock(&shim_ofd_pool_lock);
    return rc;
}

struct shim_ofd *shim_ofd_ref(struct shim_ofd *o)
{
    __atomic_add_fetch(&o->refs, 1, __ATOMIC_ACQ_REL);
    return o;
}

int shim_ofd_put(struct shim_ofd *o)
{
    if (o && __atomic_sub_fetch(&o->refs, 1, __ATOMIC_ACQ_REL) == 0)
        return shim_ofd_destroy(o);
    return 0;
}

static void shim_ofd_identity(struct shim_ofd *o, int fd)
{
    struct stat st;
    if (REAL(fstat)(fd, &st) == 0) {
        o->dev = st.st_dev;
        o->ino = st.st_ino;
    }
}

struct shim_ofd *shim_ofd_new(struct vfs_file *f, int fd, int flags)
{
    struct shim_ofd *o = shim_ofd_alloc(SHIM_OFD_VOLUME);
    if (!o)
        return NULL;
    o->flags = flags & ~(O_CREAT | O_EXCL | O_NOCTTY | O_TRUNC | O_CLOEXEC);
    o->native = shim_vfs->file_native(f);
    o->unchecked = o->native && shim_vfs->file_unchecked(f);
    o->isdir = shim_vfs->file_isdir(f);
    shim_ofd_identity(o, fd);
    __atomic_store_n(&o->file, f, __ATOMIC_RELEASE);
    return o;
}

void shim_ofd_reidentify(struct shim_ofd *o, int fd)
{
    shim_ofd_identity(o, fd);
}

struct shim_ofd *shim_ofd_new_adopt(int fd, uint64_t ino, int native, int isdir)
{
    struct shim_ofd *o = shim_ofd_alloc(SHIM_OFD_VOLUME);
    if (!o)
        return NULL;
    o->adopt_ino = ino;
    o->native = native;
    o->isdir = isdir;
    o->flags = O_RDONLY | (isdir ? O_DIRECTORY : 0);
    shim_ofd_identity(o, fd);
    return o;
}

struct shim_ofd *shim_ofd_new_ancestor(const char *host)
{
    struct shim_ofd *o = shim_ofd_alloc(SHIM_OFD_ANCESTOR);
    if (!o)
        return NULL;
    o->host = strdup(host);
    if (!o->host) {
        shim_ofd_put(o);
        return NULL;
    }
    return o;
}

int shim_ofd_file(struct shim_ofd *o, int fd, struct vfs_file **f)
{
    *f = __atomic_load_n(&o->file, __ATOMIC_ACQUIRE);
    if (*f)
        return 0;
    if (o->kind != SHIM_OFD_VOLUME)
        return -EBADF;
    pthread_mutex_lock(&o->lock);
    int rc = 0;
    *f = o->file;
    if (!*f) {
        rc = SHIM_VFS_LOAD(adopt, fd, o->adopt_ino, o->flags, f);
        if (rc == 0)
            __atomic_store_n(&o->file, *f, __ATOMIC_RELEASE);
        else {
            static int warned;
            shim_log_once(&warned, SHIM_LOG_WARN,
                          "cannot adopt inherited descriptor %d (inode %llu): %s", fd,
                          (unsigned long long)o->adopt_ino, strerror(-rc));
        }
    }
    pthread_mutex_unlock(&o->lock);
    return rc < 0 ? -EIO : 0;
}

/* Pin the entry in slot fd if it is still there after the pin. */
static struct shim_ofd *shim_fd_pin(int fd)
{
    for (int tries = 0; tries < 4; tries++) {
        struct shim_ofd *o = shim_fd_peek(fd);
        if (!o)
            return NULL;
        int r = __atomic_load_n(&o->refs, __ATOMIC_ACQUIRE);
        while (r > 0 && !__atomic_compare_exchange_n(&o->refs, &r, r + 1, 0, __ATOMIC_ACQ_REL,
                                                     __ATOMIC_ACQUIRE))
            ;
        if (r <= 0)
            continue;
        if (shim_fd_peek(fd) == o)
            return o;
        shim_ofd_put(o);
    }
    return NULL;
}

/* Drop slot fd only if it still holds o. */
static void shim_fd_forget_if(int fd, struct shim_ofd *o)
{
    struct shim_ofd **slot = shim_fd_slot(fd, 0);
    struct shim_ofd *expected = o;
    if (slot && __atomic_compare_exchange_n(slot, &expected, NULL, 0, __ATOMIC_ACQ_REL,
                                            __ATOMIC_ACQUIRE))
        shim_ofd_put(o);
}

struct shim_ofd *shim_fd_get_any(int fd) { return shim_fd_pin(fd); }

struct shim_ofd *shim_fd_get(int fd, int verify)
{
    struct shim_ofd *o = shim_fd_pin(fd);
    if (!o)
        return NULL;
    if (o->kind != SHIM_OFD_VOLUME) {
        shim_ofd_put(o);
        return NULL;
    }
    if (verify && (o->dev || o->ino)) {
        struct stat st;
        if (REAL(fstat)(fd, &st) != 0 || st.st_dev != o->dev || st.st_ino != o->ino) {
            if (!shim_in_vfork_child())
                shim_fd_forget_if(fd, o);
            shim_ofd_put(o);
            return NULL;
        }
    }
    return o;
}

int shim_fd_install(int fd, struct shim_ofd *o)
{
    if (shim_in_vfork_child())
        return 0; /* the parent's table is not ours to change; o leaks */
    struct shim_ofd **slot = shim_fd_slot(fd, 1);
    if (!slot) {
        shim_ofd_put(o);
        return -EMFILE;
    }
    shim_ofd_put(__atomic_exchange_n(slot, o, __ATOMIC_ACQ_REL));
    return 0;
}

int shim_fd_forget(int fd)
{
    if (shim_in_vfork_child())
        return 0;
    struct shim_ofd **slot = shim_fd_slot(fd, 0);
    return slot ? shim_ofd_put(__atomic_exchange_n(slot, NULL, __ATOMIC_ACQ_REL)) : 0;
}

void shim_fd_forget_range(unsigned lo, unsigned hi)
{
    struct shim_ofd ***dir = __atomic_load_n(&shim_fd_dir, __ATOMIC_ACQUIRE);
    if (!dir || lo >= shim_fd_cap || shim_in_vfork_child())
        return;
    if (hi >= shim_fd_cap)
        hi = shim_fd_cap - 1;
    for (unsigned p = lo >> SHIM_FD_PAGE_SHIFT; p <= hi >> SHIM_FD_PAGE_SHIFT; p++) {
        struct shim_ofd **page = __atomic_load_n(&dir[p], __ATOMIC_ACQUIRE);
        if (!page)
            continue;
        unsigned first = p << SHIM_FD_PAGE_SHIFT;
        for (unsigned i = 0; i <= SHIM_FD_PAGE_MASK; i++) {
            unsigned fd = first + i;
            if (fd >= lo && fd <= hi && __atomic_load_n(&page[i], __ATOMIC_ACQUIRE))
                shim_ofd_put(__atomic_exchange_n(&page[i], NULL, __ATOMIC_ACQ_REL));
        }
    }
}

void shim_fd_dup(int oldfd, int newfd)
{
    struct shim_ofd *o = shim_fd_pin(oldfd);
    if (o)
        shim_fd_install(newfd, o); /* the pin becomes the slot's reference */
    else
        shim_fd_fresh(newfd);
}

/* In a fork child: locks held by threads that did not survive are reset. */
void shim_fd_after_fork(void)
{
    pthread_mutex_t fresh = PTHREAD_MUTEX_INITIALIZER;
    shim_ofd_pool_lock = fresh;
    struct shim_ofd ***dir = __atomic_load_n(&shim_fd_dir, __ATOMIC_ACQUIRE);
    if (!dir)
        return;
    for (unsigned p = 0; p < shim_fd_cap >> SHIM_FD_PAGE_SHIFT; p++) {
        struct shim_ofd **page = dir[p];
        for (unsigned i = 0; page && i <= SHIM_FD_PAGE_MASK; i++)
            if (page[i])
                page[i]->lock = fresh;
    }
}
