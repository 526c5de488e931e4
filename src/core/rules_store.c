/*
 * Step 4's live store: a compiled rules database (LMDB, written by `domicile rules
 * compile`) turned into immutable, refcounted snapshots (docs/internals/rules.md).
 *
 * A snapshot is loaded in one LMDB read transaction, so it holds all of one compiled
 * set. Every record is validated on the way in: the file may be stale, foreign or
 * damaged, and a bad one must be refused with a message, never trusted. The request
 * path only asks dom_rules_store_current(), which costs one mdb_env_info() and one
 * short mutex-guarded retain when nothing changed.
 */
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <lmdb.h>
#include "domicile/ledger.h"
#include "rules_record_internal.h"

struct dom_rules_store {
    MDB_env *env;
    pthread_mutex_t reload_lock;  /* one loader at a time (LMDB: no concurrent mdb_dbi_open) */
    pthread_mutex_t current_lock; /* guards fetch+retain of `current` against the swap+release */
    dom_ruleset_t *current;
    MDB_txn *probe;             /* a reset read txn, renewed to ask which txn a reader would see (under reload_lock) */
    uint64_t loaded_txnid;      /* atomic */
    uint64_t failed_txnid;      /* atomic: a txn that failed to load is not retried on every request */
    uint64_t reloads, failures; /* atomic */
};

/* ---- loading a snapshot ---- */

typedef struct loader {
    MDB_txn *txn;
    dom__record_decoder_t dec; /* the codec's state; dec.failed: DOM_ECORRUPT, DOM_ENOMEM or DOM_ELMDB */
} loader_t;

static int open_db(loader_t *l, dom__rules_table_t table, MDB_dbi *dbi, size_t *entries)
{
    const char *name = dom__rules_table_name(table);
    int rc = mdb_dbi_open(l->txn, name, 0, dbi);
    if (rc == MDB_NOTFOUND || rc == MDB_INCOMPATIBLE)
        return dom__record_fail(&l->dec, DOM_ECORRUPT, "not a domicile rules database (no \"%s\" table)", name);
    if (rc != 0)
        return dom__record_fail(&l->dec, DOM_ELMDB, "opening table %s: %s", name, mdb_strerror(rc));
    MDB_stat st;
    if ((rc = mdb_stat(l->txn, *dbi, &st)) != 0)
        return dom__record_fail(&l->dec, DOM_ELMDB, "reading table %s: %s", name, mdb_strerror(rc));
    if (st.ms_entries > 1000000)
        return dom__record_fail(&l->dec, DOM_ECORRUPT, "table %s has an implausible %zu records", name,
                                (size_t)st.ms_entries);
    *entries = st.ms_entries;
    return 0;
}

/* Reads one record by key; the key is kept for the codec's messages. */
static int get_record(loader_t *l, dom__rules_table_t table, MDB_dbi dbi, const char *key, MDB_val *v)
{
    MDB_val k = {strlen(key), (void *)key};
    int rc = mdb_get(l->txn, dbi, &k, v);
    if (rc == MDB_NOTFOUND)
        return dom__record_fail(&l->dec, DOM_ECORRUPT, "%s: no %s", dom__rules_table_name(table), key);
    if (rc != 0)
        return dom__record_fail(&l->dec, DOM_ELMDB, "reading %s: %s", dom__rules_table_name(table), mdb_strerror(rc));
    dom__record_at(&l->dec, key, strlen(key));
    return 0;
}

static int load_meta(loader_t *l, MDB_dbi meta, dom__rules_meta_t key)
{
    MDB_val v;
    if (get_record(l, DOM__TABLE_META, meta, dom__rules_meta_key(key), &v) != 0)
        return l->dec.failed;
    return dom__meta_decode(&l->dec, key, v.mv_data, v.mv_size);
}

typedef int (*load_fn)(loader_t *l, size_t i, const MDB_val *v, void *ctx);

/* Walks a table whose keys are the record keys of indices 0..n-1 in order; calls fn for each. */
static int each(loader_t *l, dom__rules_table_t table, MDB_dbi dbi, size_t n, load_fn fn, void *ctx)
{
    const char *db = dom__rules_table_name(table);
    MDB_cursor *cur;
    int rc = mdb_cursor_open(l->txn, dbi, &cur);
    if (rc != 0)
        return dom__record_fail(&l->dec, DOM_ELMDB, "reading %s: %s", db, mdb_strerror(rc));
    MDB_val k, v;
    size_t i = 0;
    for (rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST); rc == 0 && l->dec.failed == 0;
         rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT), ++i) {
        char want[DOM__RECORD_KEY_MAX];
        size_t want_len = dom__record_key(want, i);
        if (i >= n || k.mv_size != want_len || memcmp(k.mv_data, want, k.mv_size) != 0) {
            dom__record_fail(&l->dec, DOM_ECORRUPT, "%s: unexpected key at position %zu", db, i);
            break;
        }
        dom__record_at(&l->dec, k.mv_data, k.mv_size);
        if (fn(l, i, &v, ctx) != 0)
            break;
    }
    mdb_cursor_close(cur);
    if (l->dec.failed == 0 && rc != 0 && rc != MDB_NOTFOUND)
        dom__record_fail(&l->dec, DOM_ELMDB, "reading %s: %s", db, mdb_strerror(rc));
    if (l->dec.failed == 0 && i != n)
        dom__record_fail(&l->dec, DOM_ECORRUPT, "%s: %zu records, expected %zu", db, i, n);
    return l->dec.failed;
}

static int load_region(loader_t *l, size_t i, const MDB_val *v, void *ctx)
{
    const dom_ruleset_t *rs = l->dec.rs;
    dom_region_t *r = &rs->regions[i];
    if (dom__record_decode(&l->dec, DOM__TABLE_REGIONS, v->mv_data, v->mv_size, r) != 0)
        return -1;
    for (size_t k = 0; k < i; ++k)
        if (strcmp(rs->regions[k].name, r->name) == 0)
            return dom__record_fail(&l->dec, DOM_ECORRUPT, "regions: duplicate region %s", r->name);
    return 0;
}

static int load_class(loader_t *l, size_t i, const MDB_val *v, void *ctx)
{
    const dom_ruleset_t *rs = l->dec.rs;
    dom_data_class_t *c = &rs->classes[i];
    if (dom__record_decode(&l->dec, DOM__TABLE_CLASSES, v->mv_data, v->mv_size, c) != 0)
        return -1;
    for (size_t k = 0; k < i; ++k)
        if (strcmp(rs->classes[k].name, c->name) == 0)
            return dom__record_fail(&l->dec, DOM_ECORRUPT, "classes: duplicate class %s", c->name);
    return 0;
}

static int load_route(loader_t *l, size_t i, const MDB_val *v, void *ctx)
{
    return dom__record_decode(&l->dec, DOM__TABLE_ROUTES, v->mv_data, v->mv_size, &l->dec.rs->routes[i]);
}

static int load_jurisdiction(loader_t *l, size_t i, const MDB_val *v, void *ctx)
{
    MDB_dbi rules_dbi = *(MDB_dbi *)ctx;
    dom_ruleset_t *rs = l->dec.rs;
    dom_jurisdiction_t *j = &rs->jurisdictions[i];
    if (dom__record_decode(&l->dec, DOM__TABLE_JURISDICTIONS, v->mv_data, v->mv_size, j) != 0)
        return -1;
    /* dom_ruleset_find() binary-searches by (name, effective): the order is part of the format */
    if (i > 0) {
        const dom_jurisdiction_t *p = &rs->jurisdictions[i - 1];
        int c = strcmp(p->name, j->name);
        if (c > 0 || (c == 0 && p->effective >= j->effective))
            return dom__record_fail(&l->dec, DOM_ECORRUPT, "jurisdictions: records out of order at %s", j->name);
    }
    if ((j->classes = dom__arena_calloc(l->dec.arena, rs->n_classes, sizeof(dom_class_rule_t))) == NULL)
        return dom__record_fail(&l->dec, DOM_ENOMEM, "out of memory");
    for (size_t c = 0; c < rs->n_classes; ++c) {
        char key[DOM__RECORD_KEY_MAX];
        MDB_val rv;
        dom__class_rule_key(key, i, rs->classes[c].name);
        if (get_record(l, DOM__TABLE_CLASS_RULES, rules_dbi, key, &rv) != 0 ||
            dom__record_decode(&l->dec, DOM__TABLE_CLASS_RULES, rv.mv_data, rv.mv_size, &j->classes[c]) != 0)
            return -1;
        /* what check guarantees, the store re-checks: a class routes somewhere or is denied */
        if (!j->classes[c].deny && j->classes[c].n_write == 0)
            return dom__record_fail(&l->dec, DOM_ECORRUPT, "class_rules: %s/%s has no write regions and no deny",
                                    j->name, rs->classes[c].name);
    }
    return 0;
}

static int load_claim(loader_t *l, size_t i, const MDB_val *v, void *ctx)
{
    return dom__record_decode(&l->dec, DOM__TABLE_CLAIMS, v->mv_data, v->mv_size, &l->dec.rs->claims[i]);
}

int dom__rules_file_complete(MDB_env *env, char *err, size_t errlen)
{
    MDB_envinfo info;
    MDB_stat st;
    struct stat fst;
    mdb_filehandle_t fd;
    if (mdb_env_info(env, &info) != 0 || mdb_env_stat(env, &st) != 0 || mdb_env_get_fd(env, &fd) != 0 ||
        fstat(fd, &fst) != 0) {
        snprintf(err, errlen, "cannot read the database's size");
        return DOM_ECORRUPT;
    }
    uint64_t need = ((uint64_t)info.me_last_pgno + 1) * st.ms_psize;
    if ((uint64_t)fst.st_size < need) {
        snprintf(err, errlen, "not a domicile rules database (truncated: %lld bytes, its pages need %llu)",
                 (long long)fst.st_size, (unsigned long long)need);
        return DOM_ECORRUPT;
    }
    return 0;
}

/* One snapshot, in one read transaction. */
static int load(MDB_env *env, dom_ruleset_t **out, uint64_t *txnid, char *err, size_t errlen)
{
    loader_t l = {NULL, {.err = err, .errlen = errlen}};
    MDB_dbi dbi[DOM__TABLE_COUNT];
    size_t n[DOM__TABLE_COUNT];
    *out = NULL;
    int rc = mdb_txn_begin(env, NULL, MDB_RDONLY, &l.txn);
    if (rc == MDB_MAP_RESIZED) {
        /* a compile grew the file: adopt the new size (no read txn of ours is open: loads are serialized) */
        mdb_env_set_mapsize(env, 0);
        rc = mdb_txn_begin(env, NULL, MDB_RDONLY, &l.txn);
    }
    if (rc != 0) {
        snprintf(err, errlen, "cannot begin a read transaction: %s", mdb_strerror(rc));
        return DOM_ELMDB;
    }
    dom_ruleset_t *rs = dom__ruleset_new();
    if (rs != NULL && dom__rules_file_complete(env, err, errlen) != 0) {
        mdb_txn_abort(l.txn);
        dom_ruleset_release(rs);
        return DOM_ECORRUPT;
    }
    if (rs == NULL) {
        dom__record_fail(&l.dec, DOM_ENOMEM, "out of memory");
        goto cleanup;
    }
    l.dec.rs = rs;
    l.dec.arena = dom__ruleset_arena(rs);
    /* the format first: a database of another format is refused before any of its records is read */
    if (open_db(&l, DOM__TABLE_META, &dbi[DOM__TABLE_META], &n[DOM__TABLE_META]) != 0 ||
        load_meta(&l, dbi[DOM__TABLE_META], DOM__META_FORMAT) != 0 ||
        load_meta(&l, dbi[DOM__TABLE_META], DOM__META_GENERATION) != 0 ||
        load_meta(&l, dbi[DOM__TABLE_META], DOM__META_SOURCE_HASH) != 0 ||
        load_meta(&l, dbi[DOM__TABLE_META], DOM__META_COMPILED_AT) != 0)
        goto cleanup;
    for (int t = DOM__TABLE_META + 1; t < DOM__TABLE_COUNT; ++t)
        if (open_db(&l, (dom__rules_table_t)t, &dbi[t], &n[t]) != 0)
            goto cleanup;
    rs->n_regions = n[DOM__TABLE_REGIONS];
    rs->n_classes = n[DOM__TABLE_CLASSES];
    rs->n_routes = n[DOM__TABLE_ROUTES];
    rs->n_jurisdictions = n[DOM__TABLE_JURISDICTIONS];
    rs->n_claims = n[DOM__TABLE_CLAIMS];
    if (rs->n_classes == 0 || rs->n_regions == 0 || rs->n_regions > UINT16_MAX) {
        dom__record_fail(&l.dec, DOM_ECORRUPT, "no classes or regions");
        goto cleanup;
    }
    if (n[DOM__TABLE_CLASS_RULES] != rs->n_jurisdictions * rs->n_classes) {
        dom__record_fail(&l.dec, DOM_ECORRUPT, "class_rules: %zu records, expected %zu", n[DOM__TABLE_CLASS_RULES],
                         rs->n_jurisdictions * rs->n_classes);
        goto cleanup;
    }
    rs->regions = dom__arena_calloc(l.dec.arena, rs->n_regions, sizeof(*rs->regions));
    rs->classes = dom__arena_calloc(l.dec.arena, rs->n_classes, sizeof(*rs->classes));
    rs->routes = dom__arena_calloc(l.dec.arena, rs->n_routes, sizeof(*rs->routes));
    rs->jurisdictions = dom__arena_calloc(l.dec.arena, rs->n_jurisdictions, sizeof(*rs->jurisdictions));
    rs->claims = dom__arena_calloc(l.dec.arena, rs->n_claims, sizeof(*rs->claims));
    if (!rs->regions || !rs->classes || !rs->routes || !rs->jurisdictions || !rs->claims) {
        dom__record_fail(&l.dec, DOM_ENOMEM, "out of memory");
        goto cleanup;
    }
    /* in this order: routes and class rules name classes and regions; claims index jurisdictions */
    if (each(&l, DOM__TABLE_REGIONS, dbi[DOM__TABLE_REGIONS], rs->n_regions, load_region, NULL) != 0 ||
        each(&l, DOM__TABLE_CLASSES, dbi[DOM__TABLE_CLASSES], rs->n_classes, load_class, NULL) != 0 ||
        each(&l, DOM__TABLE_ROUTES, dbi[DOM__TABLE_ROUTES], rs->n_routes, load_route, NULL) != 0 ||
        each(&l, DOM__TABLE_JURISDICTIONS, dbi[DOM__TABLE_JURISDICTIONS], rs->n_jurisdictions, load_jurisdiction,
             &dbi[DOM__TABLE_CLASS_RULES]) != 0 ||
        each(&l, DOM__TABLE_CLAIMS, dbi[DOM__TABLE_CLAIMS], rs->n_claims, load_claim, NULL) != 0 ||
        load_meta(&l, dbi[DOM__TABLE_META], DOM__META_DEFAULT_CLASS) != 0)
        goto cleanup;
    /* optional: files compiled before methods could be declared read with the default */
    MDB_val rm = {0, NULL}, rk = {strlen(dom__rules_meta_key(DOM__META_READ_METHODS)),
                                  (void *)dom__rules_meta_key(DOM__META_READ_METHODS)};
    int mrc = mdb_get(l.txn, dbi[DOM__TABLE_META], &rk, &rm);
    if (mrc == MDB_NOTFOUND)
        rs->read_methods = DOM_DEFAULT_READ_METHODS;
    else if (mrc != 0 || dom__meta_decode(&l.dec, DOM__META_READ_METHODS, rm.mv_data, rm.mv_size) != 0)
        goto cleanup;
    dom__ruleset_sort_claims(rs);
    dom__ruleset_sort_routes(rs);
    /* the content addresses the gateway reports (rule_hash, ruleset), from what was loaded */
    if (dom_ruleset_compute_hashes(rs) != 0) {
        dom__record_fail(&l.dec, DOM_ENOMEM, "out of memory");
        goto cleanup;
    }
    *txnid = mdb_txn_id(l.txn);

cleanup:
    mdb_txn_abort(l.txn);
    if (l.dec.failed != 0) {
        dom_ruleset_release(rs);
        return l.dec.failed;
    }
    *out = rs;
    return 0;
}

/* ---- the store ---- */

int dom_rules_store_open(const char *path, dom_rules_store_t **out, char *err, size_t errlen)
{
    char dummy[8];
    if (err == NULL || errlen == 0) {
        err = dummy;
        errlen = sizeof(dummy);
    }
    err[0] = '\0';
    *out = NULL;
    dom_rules_store_t *s = calloc(1, sizeof(*s));
    if (s == NULL)
        return DOM_ENOMEM;
    int ret = DOM_ELMDB;
    int rc = mdb_env_create(&s->env);
    if (rc == 0)
        rc = mdb_env_set_maxdbs(s->env, 16);
    if (rc == 0)
        rc = mdb_env_open(s->env, path, MDB_RDONLY | MDB_NOSUBDIR | MDB_NOTLS, 0644);
    struct stat st;
    if (rc != 0 && (rc == EBADF || rc == EINVAL) && stat(path, &st) == 0 && S_ISREG(st.st_mode) && st.st_size < 4096) {
        /* LMDB reports a file too short to hold its meta pages as a bad descriptor */
        snprintf(err, errlen, "%s: not a domicile rules database (%s)", path,
                 st.st_size == 0 ? "empty file" : "too short for an LMDB file");
        ret = DOM_ECORRUPT;
        mdb_env_close(s->env);
        free(s);
        return ret;
    }
    if (rc != 0) {
        if (rc == MDB_INVALID || rc == MDB_VERSION_MISMATCH) {
            snprintf(err, errlen, "%s: not a domicile rules database (%s)", path, mdb_strerror(rc));
            ret = DOM_ECORRUPT;
        } else {
            snprintf(err, errlen, "%s: cannot open: %s", path, mdb_strerror(rc));
        }
        mdb_env_close(s->env);
        free(s);
        return ret;
    }
    pthread_mutex_init(&s->reload_lock, NULL);
    pthread_mutex_init(&s->current_lock, NULL);
    char why[256];
    uint64_t txnid = 0;
    if ((ret = load(s->env, &s->current, &txnid, why, sizeof(why))) != 0) {
        snprintf(err, errlen, "%s: %s", path, why);
        dom_rules_store_close(s);
        return ret;
    }
    s->loaded_txnid = txnid;
    *out = s;
    return 0;
}

void dom_rules_store_close(dom_rules_store_t *store)
{
    if (store == NULL)
        return;
    dom_ruleset_release(store->current);
    if (store->probe != NULL)
        mdb_txn_abort(store->probe);
    mdb_env_close(store->env);
    pthread_mutex_destroy(&store->reload_lock);
    pthread_mutex_destroy(&store->current_lock);
    free(store);
}

/* The meta page shows a commit before the lock file publishes it to readers (LMDB syncs the meta page in
 * between), so mdb_env_info() can run ahead of what a read txn sees. Ask a read txn before loading, or every
 * request during that window would reload the old snapshot. */
static int visible_changed(dom_rules_store_t *store)
{
    int rc =
        store->probe != NULL ? mdb_txn_renew(store->probe) : mdb_txn_begin(store->env, NULL, MDB_RDONLY, &store->probe);
    if (rc != 0) {
        if (store->probe != NULL)
            mdb_txn_abort(store->probe);
        store->probe = NULL;
        return 1; /* let load() deal with it (MDB_MAP_RESIZED) and count a failure if it is real */
    }
    uint64_t visible = (uint64_t)mdb_txn_id(store->probe);
    mdb_txn_reset(store->probe);
    return visible != __atomic_load_n(&store->loaded_txnid, __ATOMIC_ACQUIRE);
}

dom_ruleset_t *dom_rules_store_current(dom_rules_store_t *store)
{
    MDB_envinfo info;
    if (mdb_env_info(store->env, &info) == 0) {
        uint64_t last = (uint64_t)info.me_last_txnid;
        if (last != __atomic_load_n(&store->loaded_txnid, __ATOMIC_ACQUIRE) &&
            last != __atomic_load_n(&store->failed_txnid, __ATOMIC_ACQUIRE) &&
            pthread_mutex_trylock(&store->reload_lock) == 0) {
            /* Only one thread loads; the others keep serving the snapshot they have meanwhile. */
            if (last != __atomic_load_n(&store->loaded_txnid, __ATOMIC_ACQUIRE) && visible_changed(store)) {
                dom_ruleset_t *fresh = NULL;
                uint64_t txnid = 0;
                char why[256];
                if (load(store->env, &fresh, &txnid, why, sizeof(why)) == 0) {
                    pthread_mutex_lock(&store->current_lock);
                    dom_ruleset_t *old = store->current;
                    store->current = fresh;
                    pthread_mutex_unlock(&store->current_lock);
                    dom_ruleset_release(old);
                    __atomic_store_n(&store->loaded_txnid, txnid, __ATOMIC_RELEASE);
                    __atomic_fetch_add(&store->reloads, 1, __ATOMIC_RELAXED);
                } else {
                    __atomic_store_n(&store->failed_txnid, last, __ATOMIC_RELEASE);
                    __atomic_fetch_add(&store->failures, 1, __ATOMIC_RELAXED);
                }
            }
            pthread_mutex_unlock(&store->reload_lock);
        }
    }
    pthread_mutex_lock(&store->current_lock);
    dom_ruleset_t *rs = store->current;
    dom_ruleset_retain(rs);
    pthread_mutex_unlock(&store->current_lock);
    return rs;
}

int dom_rules_store_file(dom_rules_store_t *store, uint64_t *dev, uint64_t *ino)
{
    mdb_filehandle_t fd;
    struct stat st;
    if (mdb_env_get_fd(store->env, &fd) != 0 || fstat(fd, &st) != 0)
        return DOM_EIO;
    *dev = (uint64_t)st.st_dev;
    *ino = (uint64_t)st.st_ino;
    return 0;
}

void dom_rules_store_stats(dom_rules_store_t *store, uint64_t *reloads, uint64_t *failures)
{
    if (reloads != NULL)
        *reloads = __atomic_load_n(&store->reloads, __ATOMIC_RELAXED);
    if (failures != NULL)
        *failures = __atomic_load_n(&store->failures, __ATOMIC_RELAXED);
}
