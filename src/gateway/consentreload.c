/*
 * Consent revocation lists reloaded live (see consentreload.h). Unlike a rules database, a
 * list is edited in place too (an operator's `echo id ... >>`), so a change is any change of
 * the file's identity: inode, size or mtime. A refused file is remembered by that identity and
 * not retried until it changes again.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "gateway/consentreload.h"
#include "gateway/metrics.h"

struct dom__consentreload {
    char *path;
    dom__file_id_t current, refused;
    uint64_t generation;
    dom__consentreload_cb publish;
    void *ctx;
    uint64_t reloads, failures; /* atomic */
    dom__filewatch_t *watch;
};

int dom__revocations_open(const char *path, uint64_t generation, dom__revocations_t **out, char *err, size_t errlen)
{
    *out = NULL;
    dom__revocations_t *r = calloc(1, sizeof(*r));
    if (r == NULL || (r->path = strdup(path)) == NULL) {
        free(r);
        snprintf(err, errlen, "out of memory");
        return DOM_ENOMEM;
    }
    /* the identity first: a change while reading shows as a new identity at the next look */
    dom__file_id_of(path, &r->id);
    int ret = dom_consent_revocations_load(path, &r->list, err, errlen);
    if (ret != 0) {
        free(r->path);
        free(r);
        return ret;
    }
    r->refs = 1;
    r->loaded_at = (int64_t)time(NULL);
    r->generation = generation;
    *out = r;
    return 0;
}

void dom__revocations_retain(dom__revocations_t *r)
{
    if (r != NULL)
        __atomic_add_fetch(&r->refs, 1, __ATOMIC_RELAXED);
}

void dom__revocations_release(dom__revocations_t *r)
{
    if (r == NULL || __atomic_sub_fetch(&r->refs, 1, __ATOMIC_ACQ_REL) != 0)
        return;
    dom_consent_revocations_free(r->list);
    free(r->path);
    free(r);
}

static void check_file(void *ctx)
{
    dom__consentreload_t *c = ctx;
    dom__file_id_t now;
    dom__file_id_of(c->path, &now);
    /* missing: the moment between unlink and rename, or a mistake; the list in use stays */
    if (!now.exists || dom__file_id_same(&now, &c->current) || dom__file_id_same(&now, &c->refused))
        return;
    char err[512] = "";
    dom__revocations_t *r = NULL;
    if (dom__revocations_open(c->path, c->generation + 1, &r, err, sizeof(err)) != 0) {
        c->refused = now;
        DOM__COUNT(&c->failures);
        fprintf(stderr, "domicile: consent revocations %s changed but cannot be used, keeping the list in use: %s\n",
                c->path, err[0] ? err : "cannot read");
        return;
    }
    c->current = r->id;
    c->generation = r->generation;
    c->publish(c->ctx, r);
    DOM__COUNT(&c->reloads);
    fprintf(stderr, "domicile: consent revocations %s loaded: generation %" PRIu64 ", %zu entries, sha256 %.12s\n",
            c->path, r->generation, dom_consent_revocations_count(r->list), dom_consent_revocations_sha256(r->list));
    dom__revocations_release(r);
}

int dom__consentreload_start(dom__revocations_t *initial, unsigned poll_ms, dom__consentreload_cb publish, void *ctx,
                             dom__consentreload_t **out)
{
    *out = NULL;
    dom__consentreload_t *c = calloc(1, sizeof(*c));
    if (c == NULL || (c->path = strdup(initial->path)) == NULL) {
        free(c);
        return DOM_ENOMEM;
    }
    c->current = initial->id;
    c->generation = initial->generation;
    c->publish = publish;
    c->ctx = ctx;
    if (dom__filewatch_start(c->path, poll_ms, check_file, c, &c->watch) != 0) {
        free(c->path);
        free(c);
        return DOM_ENOMEM;
    }
    *out = c;
    return 0;
}

void dom__consentreload_poke(dom__consentreload_t *c)
{
    if (c != NULL)
        dom__filewatch_poke(c->watch);
}

void dom__consentreload_stats(dom__consentreload_t *c, uint64_t *reloads, uint64_t *failures)
{
    *reloads = c != NULL ? DOM__READ(&c->reloads) : 0;
    *failures = c != NULL ? DOM__READ(&c->failures) : 0;
}

void dom__consentreload_stop(dom__consentreload_t *c)
{
    if (c == NULL)
        return;
    dom__filewatch_stop(c->watch);
    free(c->path);
    free(c);
}
