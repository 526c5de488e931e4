/*
 * Rules databases delivered by rename or symlink swap (see rulesreload.h).
 *
 * A new file is recognised by device and inode only: an in-place compile writes an LMDB
 * transaction into the same file, which dom_rules_store_current() picks up per request. A
 * refused file is remembered by its full identity (inode, size, mtime) and not retried until
 * it changes, so a corrupt delivery costs one attempt, not one per poll.
 */
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "gateway/metrics.h"
#include "gateway/recent.h"
#include "gateway/rulesreload.h"

struct dom__rulesreload {
    char *path;
    dom__file_id_t current; /* the file in use (by device and inode) */
    dom__file_id_t refused; /* the last file refused (full identity) */
    dom__rulesreload_cb publish;
    void *ctx;
    uint64_t swaps, refusals; /* atomic */
    dom__filewatch_t *watch;
};

int dom__rules_file_open(const char *path, dom__rules_file_t **out, char *err, size_t errlen)
{
    *out = NULL;
    dom__rules_file_t *f = calloc(1, sizeof(*f));
    if (f == NULL || (f->path = strdup(path)) == NULL) {
        free(f);
        snprintf(err, errlen, "out of memory");
        return DOM_ENOMEM;
    }
    int ret = dom_rules_store_open(path, &f->store, err, errlen);
    uint64_t dev = 0, ino = 0;
    if (ret == 0 && (ret = dom_rules_store_file(f->store, &dev, &ino)) != 0)
        snprintf(err, errlen, "%s: cannot stat the open file", path);
    if (ret != 0) {
        dom_rules_store_close(f->store);
        free(f->path);
        free(f);
        return ret;
    }
    f->refs = 1;
    f->id.exists = 1;
    f->id.dev = (dev_t)dev;
    f->id.ino = (ino_t)ino;
    f->loaded_at = (int64_t)time(NULL);
    *out = f;
    return 0;
}

void dom__rules_file_retain(dom__rules_file_t *f)
{
    __atomic_add_fetch(&f->refs, 1, __ATOMIC_RELAXED);
}

void dom__rules_file_release(dom__rules_file_t *f)
{
    if (f == NULL || __atomic_sub_fetch(&f->refs, 1, __ATOMIC_ACQ_REL) != 0)
        return;
    dom_rules_store_close(f->store);
    free(f->path);
    free(f);
}

static void check_file(void *ctx)
{
    dom__rulesreload_t *r = ctx;
    dom__file_id_t now;
    dom__file_id_of(r->path, &now);
    /* missing: the moment between unlink and rename, or an operator mistake; the same file: nothing new */
    if (!now.exists || dom__file_id_same_file(&now, &r->current) || dom__file_id_same(&now, &r->refused))
        return;
    char err[512] = "";
    dom__rules_file_t *f = NULL;
    if (dom__rules_file_open(r->path, &f, err, sizeof(err)) != 0) {
        r->refused = now;
        DOM__COUNT(&r->refusals);
        fprintf(stderr, "domicile: rules database %s was replaced but cannot be used, keeping the rules in use: %s\n",
                r->path, err[0] ? err : "cannot open");
        dom__event_add(1, "rules database %s was replaced but cannot be used (the rules in use are kept): %s", r->path,
                       err[0] ? err : "cannot open");
        return;
    }
    dom_ruleset_t *rs = dom_rules_store_current(f->store);
    fprintf(stderr, "domicile: rules database %s replaced (inode %" PRIu64 "): generation %" PRIu64 ", sha256 %.12s\n",
            r->path, (uint64_t)f->id.ino, rs->generation, rs->source_hash);
    dom__event_add(0, "rules database %s replaced: generation %" PRIu64 ", sha256 %.12s", r->path, rs->generation,
                   rs->source_hash);
    dom_ruleset_release(rs);
    r->current = f->id;
    r->publish(r->ctx, f);
    DOM__COUNT(&r->swaps);
    dom__rules_file_release(f);
}

int dom__rulesreload_start(dom__rules_file_t *initial, unsigned poll_ms, dom__rulesreload_cb publish, void *ctx,
                           dom__rulesreload_t **out)
{
    *out = NULL;
    dom__rulesreload_t *r = calloc(1, sizeof(*r));
    if (r == NULL || (r->path = strdup(initial->path)) == NULL) {
        free(r);
        return DOM_ENOMEM;
    }
    r->current = initial->id;
    r->publish = publish;
    r->ctx = ctx;
    if (dom__filewatch_start(r->path, poll_ms, check_file, r, &r->watch) != 0) {
        free(r->path);
        free(r);
        return DOM_ENOMEM;
    }
    *out = r;
    return 0;
}

void dom__rulesreload_poke(dom__rulesreload_t *r)
{
    if (r != NULL)
        dom__filewatch_poke(r->watch);
}

void dom__rulesreload_stats(dom__rulesreload_t *r, uint64_t *swaps, uint64_t *refusals)
{
    *swaps = r != NULL ? DOM__READ(&r->swaps) : 0;
    *refusals = r != NULL ? DOM__READ(&r->refusals) : 0;
}

void dom__rulesreload_stop(dom__rulesreload_t *r)
{
    if (r == NULL)
        return;
    dom__filewatch_stop(r->watch);
    free(r->path);
    free(r);
}
