/*
 * A checked rule set → LMDB, in one write transaction (docs/internals/rules.md).
 *
 * Every sub-database is emptied and refilled inside the same transaction, so a reader
 * (in this process or another) sees the whole previous set or the whole new one; any
 * failure aborts and leaves the database as it was. Records are small "field=value"
 * lines so that `mdb_dump -p -a` shows an operator what is live; their tables, keys and
 * fields are the codec's (src/core/rules_record.c), which the store decodes with.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <lmdb.h>
#include "ledger_internal.h"
#include "rules_record_internal.h"

#define MAPSIZE_START ((size_t)64 << 20)
#define MAPSIZE_MAX ((size_t)4 << 30)

typedef struct writer {
    MDB_txn *txn;
    const char *stage;
    int rc;
} writer_t;

/* Puts the record encoded in val under key, and clears val for the next one. */
static int put(writer_t *w, MDB_dbi dbi, const char *key, dom__record_buf_t *val)
{
    if (w->rc != 0)
        return w->rc;
    if (val->failed) {
        w->rc = ENOMEM;
        w->stage = "encoding a record";
        return w->rc;
    }
    MDB_val k = {strlen(key), (void *)key}, v = {val->len, val->base != NULL ? val->base : ""};
    w->rc = mdb_put(w->txn, dbi, &k, &v, 0);
    if (w->rc != 0)
        w->stage = "writing a record";
    dom__record_buf_clear(val);
    return w->rc;
}

/* One attempt at the whole transaction. Returns an LMDB code (MDB_MAP_FULL means: grow and retry) or -1 for a
 * refusal described in err. */
static int write_all(MDB_env *env, const dom_ruleset_t *rs, const dom_rules_compile_options_t *opts,
                     uint64_t *generation, char *err, size_t errlen)
{
    writer_t w = {NULL, "beginning the write transaction", 0};
    dom__record_buf_t b = {0};
    MDB_dbi dbi[DOM__TABLE_COUNT];
    char key[DOM__RECORD_KEY_MAX];
    int rc = mdb_txn_begin(env, NULL, 0, &w.txn);
    if (rc != 0)
        goto fail;

    /* Refuse to wipe a database that is not ours. */
    MDB_dbi main_dbi, meta;
    MDB_stat st;
    uint64_t prev_generation = 0;
    w.stage = "reading the database";
    if ((rc = mdb_dbi_open(w.txn, NULL, 0, &main_dbi)) != 0 || (rc = mdb_stat(w.txn, main_dbi, &st)) != 0)
        goto fail;
    rc = mdb_dbi_open(w.txn, dom__rules_table_name(DOM__TABLE_META), 0, &meta);
    if (rc == MDB_NOTFOUND && st.ms_entries != 0) {
        snprintf(err, errlen, "not a domicile rules database (it holds other data); refusing to overwrite it");
        rc = -1;
        goto fail;
    } else if (rc == 0) {
        /* The previous generation, read with the store's decoder; one that does not decode counts as none. */
        dom_ruleset_t previous = {0};
        dom__record_decoder_t dec = {.rs = &previous};
        const char *fk = dom__rules_meta_key(DOM__META_FORMAT), *gk = dom__rules_meta_key(DOM__META_GENERATION);
        MDB_val k = {strlen(fk), (void *)fk}, v;
        rc = mdb_get(w.txn, meta, &k, &v);
        if (rc != 0 || dom__meta_decode(&dec, DOM__META_FORMAT, v.mv_data, v.mv_size) != 0) {
            snprintf(err, errlen, "not a %s database; refusing to overwrite it", DOM__RULES_FORMAT);
            rc = -1;
            goto fail;
        }
        k = (MDB_val){strlen(gk), (void *)gk};
        if (mdb_get(w.txn, meta, &k, &v) == 0 &&
            dom__meta_decode(&dec, DOM__META_GENERATION, v.mv_data, v.mv_size) == 0)
            prev_generation = previous.generation;
    } else if (rc != MDB_NOTFOUND) {
        goto fail;
    }

    w.stage = "emptying the previous rule set";
    for (int i = 0; i < DOM__TABLE_COUNT; ++i) {
        if ((rc = mdb_dbi_open(w.txn, dom__rules_table_name((dom__rules_table_t)i), MDB_CREATE, &dbi[i])) != 0)
            goto fail;
        if ((rc = mdb_drop(w.txn, dbi[i], 0)) != 0)
            goto fail;
    }

    uint64_t gen = prev_generation + 1;
    for (int m = 0; m < DOM__META_COUNT && w.rc == 0; ++m) {
        dom__meta_encode(&b, (dom__rules_meta_t)m, rs, gen);
        put(&w, dbi[DOM__TABLE_META], dom__rules_meta_key((dom__rules_meta_t)m), &b);
    }
    for (size_t i = 0; i < rs->n_regions && w.rc == 0; ++i) {
        dom__record_encode(&b, DOM__TABLE_REGIONS, rs, &rs->regions[i]);
        dom__record_key(key, i);
        put(&w, dbi[DOM__TABLE_REGIONS], key, &b);
    }
    for (size_t i = 0; i < rs->n_classes && w.rc == 0; ++i) {
        dom__record_encode(&b, DOM__TABLE_CLASSES, rs, &rs->classes[i]);
        dom__record_key(key, i);
        put(&w, dbi[DOM__TABLE_CLASSES], key, &b);
    }
    for (size_t i = 0; i < rs->n_routes && w.rc == 0; ++i) {
        dom__record_encode(&b, DOM__TABLE_ROUTES, rs, &rs->routes[i]);
        dom__record_key(key, i);
        put(&w, dbi[DOM__TABLE_ROUTES], key, &b);
    }
    for (size_t i = 0; i < rs->n_jurisdictions && w.rc == 0; ++i) {
        const dom_jurisdiction_t *j = &rs->jurisdictions[i];
        dom__record_encode(&b, DOM__TABLE_JURISDICTIONS, rs, j);
        dom__record_key(key, i);
        put(&w, dbi[DOM__TABLE_JURISDICTIONS], key, &b);
        for (size_t c = 0; c < rs->n_classes && w.rc == 0 && j->classes != NULL; ++c) {
            dom__record_encode(&b, DOM__TABLE_CLASS_RULES, rs, &j->classes[c]);
            dom__class_rule_key(key, i, rs->classes[c].name);
            put(&w, dbi[DOM__TABLE_CLASS_RULES], key, &b);
        }
    }
    for (size_t i = 0; i < rs->n_claims && w.rc == 0; ++i) {
        dom__record_encode(&b, DOM__TABLE_CLAIMS, rs, &rs->claims[i]);
        dom__record_key(key, i);
        put(&w, dbi[DOM__TABLE_CLAIMS], key, &b);
    }
    if ((rc = w.rc) != 0)
        goto fail;
    /* the ledger, in the same transaction: a compile the ledger refuses writes nothing */
    rc = dom__ledger_write(w.txn, opts != NULL ? opts->ledger_from : NULL, rs, opts != NULL ? opts->source_rev : NULL,
                           gen, err, errlen);
    if (rc == DOM_ERULES || rc == DOM_ENOMEM) {
        mdb_txn_abort(w.txn);
        dom__record_buf_free(&b);
        return rc == DOM_ERULES ? -2 : ENOMEM;
    }
    if (rc != 0) {
        w.stage = "writing the ledger";
        goto fail;
    }
    w.stage = "committing";
    rc = mdb_txn_commit(w.txn);
    w.txn = NULL;
    if (rc != 0)
        goto fail;
    if (generation != NULL)
        *generation = gen;
    dom__record_buf_free(&b);
    return 0;

fail:
    if (w.txn != NULL)
        mdb_txn_abort(w.txn);
    if (rc > 0 || rc < -2)
        snprintf(err, errlen, "%s: %s", w.stage, rc == ENOMEM ? "out of memory" : mdb_strerror(rc));
    dom__record_buf_free(&b);
    return rc;
}

int dom_rules_compile_ledger(const dom_ruleset_t *rs, const char *path, const dom_rules_compile_options_t *opts,
                             uint64_t *generation, char *err, size_t errlen)
{
    char dummy[8];
    if (err == NULL || errlen == 0) {
        err = dummy;
        errlen = sizeof(dummy);
    }
    err[0] = '\0';
    size_t mapsize = MAPSIZE_START;
    for (;;) {
        MDB_env *env = NULL;
        int rc = mdb_env_create(&env);
        if (rc == 0)
            rc = mdb_env_set_maxdbs(env, DOM__TABLE_COUNT + 4);
        if (rc == 0)
            rc = mdb_env_set_mapsize(env, mapsize);
        if (rc == 0)
            rc = mdb_env_open(env, path, MDB_NOSUBDIR, 0644);
        if (rc != 0) {
            snprintf(err, errlen, "cannot open %s: %s", path,
                     rc == MDB_INVALID ? "not an LMDB file (refusing to overwrite it)" : mdb_strerror(rc));
            mdb_env_close(env);
            return rc == ENOENT || rc == EACCES || rc == EROFS ? DOM_EIO : DOM_ELMDB;
        }
        /* The file may already be larger than what we asked for; grow from there. */
        MDB_envinfo info;
        mdb_env_info(env, &info);
        if (info.me_mapsize > mapsize)
            mapsize = info.me_mapsize;
        rc = write_all(env, rs, opts, generation, err, errlen);
        mdb_env_close(env);
        if (rc == 0)
            return 0;
        if (rc == MDB_MAP_FULL && mapsize < MAPSIZE_MAX) {
            mapsize *= 2;
            continue;
        }
        return rc == -1 ? DOM_ECORRUPT : rc == -2 ? DOM_ERULES : rc == ENOMEM ? DOM_ENOMEM : DOM_ELMDB;
    }
}

int dom_rules_compile_ex(const dom_ruleset_t *rs, const char *path, uint64_t *generation, char *err, size_t errlen)
{
    return dom_rules_compile_ledger(rs, path, NULL, generation, err, errlen);
}

int dom_rules_compile(const dom_ruleset_t *rs, const char *path, char *err, size_t errlen)
{
    return dom_rules_compile_ex(rs, path, NULL, err, errlen);
}
