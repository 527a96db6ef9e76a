/* meta_watch.c - a token that moves whenever a transaction commits: what
 * the node agent (core/agent/agent.c) watches on a volume older than schema 3
 * (which has no change log, meta_changes.c), and the mark of an answer
 * read from committed state.
 *
 * Why pg_current_snapshot(): it names exactly the transactions a new query
 * would see (xmin, xmax and those in progress), so two equal tokens mean
 * no transaction committed between the two questions, and a commit always
 * changes it. It costs no schema change. Its price: it is cluster-wide, so
 * commits in other databases of the same server move it too, and then the
 * agent marks everything; the change log of schema 3 has no such price.
 *
 * The same token comes with every directory answer (meta_dirslices.c asks
 * for it first in the same round trip): 0 there means the answer was read
 * inside the caller's own transaction and must not be shared.
 *
 * Promises: a read-only statement, no transaction id taken, so polling
 * never moves the token itself; a digest is never 0 (0 means "unknown").
 */
#include "meta_int.h"

#include <errno.h>

uint64_t meta_token_of(const PGresult *r, int col)
{
    if (!r || PQntuples(r) != 1 || PQnfields(r) <= col || PQgetisnull(r, 0, col))
        return 0;
    /* FNV-1a of the text: tokens are short and not chosen by an adversary */
    const char *p = PQgetvalue(r, 0, col);
    uint64_t h = 0xcbf29ce484222325ULL;
    for (int i = 0, n = PQgetlength(r, 0, col); i < n; i++)
        h = (h ^ (unsigned char)p[i]) * 0x100000001b3ULL;
    return h ? h : 1;
}

int meta_change_token(struct meta *m, uint64_t *digest)
{
    struct meta_params p;
    meta_p_init(&p);
    PGresult *r;
    int rc = meta_read(m, MS_CHANGE_TOKEN, &p, &r);
    if (rc < 0)
        return rc;
    *digest = meta_token_of(r, 0);
    PQclear(r);
    return *digest ? 0 : -EIO;
}
