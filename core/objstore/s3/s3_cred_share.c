/* s3_cred_share.c - temporary credentials shared by the node's processes.
 *
 * A process that fetched credentials that expire (web identity, container
 * credentials, IMDSv2, a profile's session) writes them to the cache
 * folder, which belongs to its user alone (trust.h; the file is 0600), and
 * the node's other processes of that user take them from there instead of
 * asking STS or the metadata service again, until they are due for
 * refresh; the refresh is made by one process at a time (a lock file), so
 * 256 DataLoader workers starting together cost one STS call, not 256,
 * and STS's rate limits are not met. The file is named by a hash of what
 * selects the identity (the store, the region and the AWS_* variables of
 * every source), so two identities never share one. Static keys from the
 * environment or a profile are not written (nothing to refresh).
 *
 * Promises: the secret and the token are written only to that file (never
 * logged); a file that does not parse, is not a regular file of ours or
 * has expired is ignored; waiting for another process's fetch is bounded
 * (S3_SHARE_WAIT_MS, then this process fetches itself); every failure here
 * only means fetching as if nothing were shared.
 */
#include "s3_cred.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <stdint.h>

#define S3_SHARE_WAIT_MS 15000
#define S3_SHARE_MAX 8192
#define S3_SHARE_MAGIC "shimfs-credentials 1"

static const char *const s3_share_vars[] = {
    "AWS_ACCESS_KEY_ID", "AWS_ROLE_ARN", "AWS_WEB_IDENTITY_TOKEN_FILE", "AWS_ROLE_SESSION_NAME",
    "AWS_PROFILE", "AWS_SHARED_CREDENTIALS_FILE", "AWS_CONFIG_FILE",
    "AWS_CONTAINER_CREDENTIALS_FULL_URI", "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
    "AWS_EC2_METADATA_SERVICE_ENDPOINT", "AWS_EC2_METADATA_DISABLED", "AWS_ENDPOINT_URL_STS",
};

/* FNV-1a over a string and its NUL, continuing from h. */
static uint64_t s3_share_fnv(uint64_t h, const char *s)
{
    do
        h = (h ^ (unsigned char)*s) * 1099511628211ULL;
    while (*s++);
    return h;
}

void s3_cred_share_key(const char *desc, const char *region, char *out, size_t cap)
{
    /* two FNV-1a streams: a name, not a secret (the folder is the user's) */
    uint64_t h1 = 1469598103934665603ULL, h2 = 0x84222325cbf29ce4ULL;
    const char *parts[2 + 2 * sizeof s3_share_vars / sizeof s3_share_vars[0]];
    size_t n = 0;
    parts[n++] = desc;
    parts[n++] = region;
    for (size_t i = 0; i < sizeof s3_share_vars / sizeof s3_share_vars[0]; i++) {
        const char *v = getenv(s3_share_vars[i]);
        parts[n++] = s3_share_vars[i];
        parts[n++] = v ? v : "\x01(unset)";
    }
    for (size_t i = 0; i < n; i++) {
        h1 = s3_share_fnv(h1, parts[i]);
        h2 = s3_share_fnv(h2 ^ i, parts[i]);
    }
    snprintf(out, cap, "credentials-%016llx%016llx", (unsigned long long)h1,
             (unsigned long long)h2);
}

static int s3_share_path(const char *dir, const char *key, const char *ext, char *out, size_t cap)
{
    int n = snprintf(out, cap, "%s/%s%s", dir, key, ext);
    return n > 0 && (size_t)n < cap ? 0 : -ENAMETOOLONG;
}

int s3_cred_share_lock(const char *dir, const char *key)
{
    char path[4200];
    if (s3_share_path(dir, key, ".lock", path, sizeof path) < 0)
        return -1;
    int fd = open(path, O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0600);
    if (fd < 0)
        return -1;
    for (int waited = 0; waited < S3_SHARE_WAIT_MS; waited += 10) {
        if (flock(fd, LOCK_EX | LOCK_NB) == 0)
            return fd;
        if (errno != EWOULDBLOCK && errno != EINTR)
            break;
        struct timespec ts = { 0, 10 * 1000000 };
        nanosleep(&ts, NULL);
    }
    close(fd); /* another process's fetch is stuck: fetch ourselves */
    return -1;
}

void s3_cred_share_unlock(int fd)
{
    if (fd >= 0)
        close(fd); /* drops the lock */
}

/* The next line of buf (no '\n' in it), or NULL. */
static char *s3_share_line(char **p)
{
    char *s = *p, *e = s ? strchr(s, '\n') : NULL;
    if (!e)
        return NULL;
    *e = '\0';
    *p = e + 1;
    return s;
}

static int s3_share_num(const char *s, int64_t *v)
{
    char *end;
    errno = 0;
    long long x = s ? strtoll(s, &end, 10) : 0;
    if (!s || !*s || *end || errno || x < 0)
        return -EINVAL;
    *v = x;
    return 0;
}

int s3_cred_share_parse(char *buf, struct s3_creds *out, int *source)
{
    char *p = buf;
    const char *magic = s3_share_line(&p), *src = s3_share_line(&p), *exp = s3_share_line(&p);
    const char *ref = s3_share_line(&p);
    const char *ak = s3_share_line(&p), *sk = s3_share_line(&p), *tok = s3_share_line(&p);
    int64_t s, e, r;
    if (!magic || strcmp(magic, S3_SHARE_MAGIC) != 0 || s3_share_num(src, &s) < 0 ||
        s3_share_num(exp, &e) < 0 || e == 0 || s3_share_num(ref, &r) < 0 ||
        s >= s3_cred_nsources || !ak || !*ak || !sk ||
        !*sk || !tok || !*tok || (p && *p))
        return -EINVAL;
    memset(out, 0, sizeof *out);
    out->access_key = strdup(ak);
    out->secret_key = strdup(sk);
    out->token = strcmp(tok, "-") ? strdup(tok) : NULL;
    out->expires = e;
    out->refresh_at = r;
    if (!out->access_key || !out->secret_key || (strcmp(tok, "-") && !out->token)) {
        s3_creds_wipe(out);
        return -ENOMEM;
    }
    *source = (int)s;
    return 0;
}

int s3_cred_share_load(const char *dir, const char *key, struct s3_creds *out, int *source)
{
    char path[4200], buf[S3_SHARE_MAX + 1];
    if (s3_share_path(dir, key, "", path, sizeof path) < 0)
        return -ENAMETOOLONG;
    int fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0)
        return -errno;
    struct stat st;
    ssize_t n = -1;
    if (fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && st.st_uid == geteuid() &&
        !(st.st_mode & 077) && st.st_size <= S3_SHARE_MAX)
        n = read(fd, buf, S3_SHARE_MAX);
    close(fd);
    if (n <= 0)
        return -EINVAL;
    buf[n] = '\0';
    int rc = s3_cred_share_parse(buf, out, source);
    explicit_bzero(buf, sizeof buf);
    return rc;
}

void s3_cred_share_store(const char *dir, const char *key, const struct s3_creds *cr, int source)
{
    char path[4200], tmp[4240];
    if (strchr(cr->access_key, '\n') || strchr(cr->secret_key, '\n') ||
        (cr->token && strchr(cr->token, '\n')))
        return; /* would not read back */
    if (cr->expires == 0 || s3_share_path(dir, key, "", path, sizeof path) < 0 ||
        snprintf(tmp, sizeof tmp, "%s.%d.tmp", path, (int)getpid()) >= (int)sizeof tmp)
        return;
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0600);
    if (fd < 0)
        return;
    FILE *f = fdopen(fd, "w");
    if (!f) {
        close(fd);
        unlink(tmp);
        return;
    }
    fprintf(f, "%s\n%d\n%lld\n%lld\n%s\n%s\n%s\n", S3_SHARE_MAGIC, source,
            (long long)cr->expires, (long long)cr->refresh_at, cr->access_key, cr->secret_key,
            cr->token ? cr->token : "-");
    int bad = fflush(f) != 0 || fsync(fd) != 0;
    bad |= fclose(f) != 0;
    if (bad || rename(tmp, path) != 0)
        unlink(tmp);
}
