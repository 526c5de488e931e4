/*
 * A checked rule set → LMDB, in one write transaction (docs/internals/rules.md).
 *
 * Every sub-database is emptied and refilled inside the same transaction, so a reader
 * (in this process or another) sees the whole previous set or the whole new one; any
 * failure aborts and leaves the database as it was. Records are small "field=value"
 * lines so that `mdb_dump -p -a` shows an operator what is live.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <lmdb.h>
#include "../core/ruleset_internal.h"

#define MAPSIZE_START ((size_t)64 << 20)
#define MAPSIZE_MAX ((size_t)4 << 30)

typedef struct buf {
    char *p;
    size_t len, cap;
    int nomem;
} buf_t;

static void put_bytes(buf_t *b, const char *s, size_t n)
{
    if (b->nomem)
        return;
    if (b->len + n + 1 > b->cap) {
        size_t ncap = b->cap ? b->cap : 256;
        while (ncap < b->len + n + 1)
            ncap *= 2;
        char *np = realloc(b->p, ncap);
        if (np == NULL) {
            b->nomem = 1;
            return;
        }
        b->p = np;
        b->cap = ncap;
    }
    memcpy(b->p + b->len, s, n);
    b->len += n;
    b->p[b->len] = '\0';
}

/* One "name=value\n" field; the value escaped so a record is always one field per line. */
static void field(buf_t *b, const char *name, const char *value)
{
    put_bytes(b, name, strlen(name));
    put_bytes(b, "=", 1);
    for (const char *s = value != NULL ? value : ""; *s != '\0'; ++s) {
        if (*s == '\\')
            put_bytes(b, "\\\\", 2);
        else if (*s == '\n')
            put_bytes(b, "\\n", 2);
        else if (*s == '\t')
            put_bytes(b, "\\t", 2);
        else
            put_bytes(b, s, 1);
    }
    put_bytes(b, "\n", 1);
}

static void field_int(buf_t *b, const char *name, int64_t v)
{
    char tmp[32];
    snprintf(tmp, sizeof(tmp), "%" PRId64, v);
    field(b, name, tmp);
}

static void field_regions(buf_t *b, const char *name, const dom_ruleset_t *rs, const uint16_t *idx, size_t n)
{
    buf_t list = {0};
    for (size_t i = 0; i < n && i < DOM_MAX_REGIONS; ++i) {
        if (i)
            put_bytes(&list, ",", 1);
        const char *r = idx[i] < rs->n_regions ? rs->regions[idx[i]].name : "?";
        put_bytes(&list, r, strlen(r));
    }
    if (list.nomem)
        b->nomem = 1;
    field(b, name, list.p != NULL ? list.p : "");
    free(list.p);
}

static void methods_text(unsigned m, char *out, size_t len)
{
    static const char *const names[] = {"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "OTHER"};
    if ((m & DOM_METHOD_ALL) == DOM_METHOD_ALL) {
        snprintf(out, len, "ALL");
        return;
    }
    size_t off = 0;
    out[0] = '\0';
    for (int i = 0; i < 8; ++i)
        if (m & (1u << i))
            off += (size_t)snprintf(out + off, len - off, "%s%s", off ? "," : "", names[i]);
}

typedef struct writer {
    MDB_txn *txn;
    const char *stage;
    int rc;
} writer_t;

static int put(writer_t *w, MDB_dbi dbi, const char *key, buf_t *val)
{
    if (w->rc != 0)
        return w->rc;
    if (val->nomem) {
        w->rc = ENOMEM;
        w->stage = "encoding a record";
        return w->rc;
    }
    MDB_val k = {strlen(key), (void *)key}, v = {val->len, val->p != NULL ? val->p : ""};
    w->rc = mdb_put(w->txn, dbi, &k, &v, 0);
    if (w->rc != 0)
        w->stage = "writing a record";
    val->len = 0;
    return w->rc;
}

enum { DB_META, DB_REGIONS, DB_CLASSES, DB_ROUTES, DB_JURISDICTIONS, DB_CLASS_RULES, DB_CLAIMS, DB_COUNT };
static const char *const db_names[DB_COUNT] = {"meta",          "regions",     "classes", "routes",
                                               "jurisdictions", "class_rules", "claims"};

/* One attempt at the whole transaction. Returns an LMDB code (MDB_MAP_FULL means: grow and retry) or -1 for a
 * refusal described in err. */
static int write_all(MDB_env *env, const dom_ruleset_t *rs, uint64_t *generation, char *err, size_t errlen)
{
    writer_t w = {NULL, "beginning the write transaction", 0};
    buf_t b = {0};
    MDB_dbi dbi[DB_COUNT];
    char key[160];
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
    rc = mdb_dbi_open(w.txn, "meta", 0, &meta);
    if (rc == MDB_NOTFOUND && st.ms_entries != 0) {
        snprintf(err, errlen, "not a domicile rules database (it holds other data); refusing to overwrite it");
        rc = -1;
        goto fail;
    } else if (rc == 0) {
        MDB_val k = {6, "format"}, v;
        rc = mdb_get(w.txn, meta, &k, &v);
        if (rc != 0 || v.mv_size != strlen(DOM__RULES_FORMAT) || memcmp(v.mv_data, DOM__RULES_FORMAT, v.mv_size) != 0) {
            snprintf(err, errlen, "not a %s database; refusing to overwrite it", DOM__RULES_FORMAT);
            rc = -1;
            goto fail;
        }
        MDB_val gk = {10, "generation"}, gv;
        if (mdb_get(w.txn, meta, &gk, &gv) == 0 && gv.mv_size < 24) {
            char tmp[24];
            memcpy(tmp, gv.mv_data, gv.mv_size);
            tmp[gv.mv_size] = '\0';
            prev_generation = strtoull(tmp, NULL, 10);
        }
    } else if (rc != MDB_NOTFOUND) {
        goto fail;
    }

    w.stage = "emptying the previous rule set";
    for (int i = 0; i < DB_COUNT; ++i) {
        if ((rc = mdb_dbi_open(w.txn, db_names[i], MDB_CREATE, &dbi[i])) != 0)
            goto fail;
        if ((rc = mdb_drop(w.txn, dbi[i], 0)) != 0)
            goto fail;
    }

    uint64_t gen = prev_generation + 1;
    char num[32];
#define META(K, V)                                                                                                     \
    do {                                                                                                               \
        put_bytes(&b, (V), strlen(V));                                                                                 \
        put(&w, dbi[DB_META], (K), &b);                                                                                \
    } while (0)
    META("format", DOM__RULES_FORMAT);
    snprintf(num, sizeof(num), "%" PRIu64, gen);
    META("generation", num);
    META("source_hash", rs->source_hash);
    snprintf(num, sizeof(num), "%" PRId64, rs->compiled_at != 0 ? rs->compiled_at : (int64_t)time(NULL));
    META("compiled_at", num);
    META("default_class", rs->default_class < rs->n_classes ? rs->classes[rs->default_class].name : "");
#undef META

    for (size_t i = 0; i < rs->n_regions && w.rc == 0; ++i) {
        field(&b, "name", rs->regions[i].name);
        field(&b, "location", rs->regions[i].location);
        field(&b, "description", rs->regions[i].description);
        snprintf(key, sizeof(key), "%08zu", i);
        put(&w, dbi[DB_REGIONS], key, &b);
    }
    for (size_t i = 0; i < rs->n_classes && w.rc == 0; ++i) {
        field(&b, "name", rs->classes[i].name);
        field(&b, "description", rs->classes[i].description);
        field_int(&b, "personal", rs->classes[i].personal != 0);
        snprintf(key, sizeof(key), "%08zu", i);
        put(&w, dbi[DB_CLASSES], key, &b);
    }
    for (size_t i = 0; i < rs->n_routes && w.rc == 0; ++i) {
        char m[64];
        methods_text(rs->routes[i].methods, m, sizeof(m));
        field(&b, "prefix", rs->routes[i].prefix);
        field(&b, "methods", m);
        field(&b, "class", rs->classes[rs->routes[i].class_index].name);
        snprintf(key, sizeof(key), "%08zu", i);
        put(&w, dbi[DB_ROUTES], key, &b);
    }
    for (size_t i = 0; i < rs->n_jurisdictions && w.rc == 0; ++i) {
        const dom_jurisdiction_t *j = &rs->jurisdictions[i];
        char date[16];
        time_t t = (time_t)j->effective;
        struct tm tm;
        gmtime_r(&t, &tm);
        strftime(date, sizeof(date), "%Y-%m-%d", &tm);
        field(&b, "name", j->name);
        field(&b, "version", j->version);
        field_int(&b, "effective", j->effective);
        field(&b, "effective_date", date);
        field(&b, "mode", dom__mode_name(j->mode));
        field_int(&b, "default", j->is_default != 0);
        field(&b, "applies_to", j->applies_to);
        field(&b, "on_unavailable", dom__on_unavailable_name(j->on_unavailable));
        field(&b, "policy_url", j->policy_url);
        field(&b, "law", j->law);
        field(&b, "source_file", j->source_file);
        snprintf(key, sizeof(key), "%08zu", i);
        put(&w, dbi[DB_JURISDICTIONS], key, &b);
        for (size_t c = 0; c < rs->n_classes && w.rc == 0 && j->classes != NULL; ++c) {
            const dom_class_rule_t *r = &j->classes[c];
            field_int(&b, "deny", r->deny != 0);
            field(&b, "reason", r->deny && r->deny_reason != NULL ? r->deny_reason : "");
            field_regions(&b, "write", rs, r->write_regions, r->n_write);
            field_regions(&b, "read", rs, r->read_regions, r->n_read);
            field(&b, "consent", r->consent_required ? "required" : "none");
            field_int(&b, "anonymize", r->anonymize != 0);
            snprintf(key, sizeof(key), "%08zu/%s", i, rs->classes[c].name);
            put(&w, dbi[DB_CLASS_RULES], key, &b);
        }
    }
    for (size_t i = 0; i < rs->n_claims && w.rc == 0; ++i) {
        const dom_rule_claim_t *c = &rs->claims[i];
        char k[sizeof(c->key) + 1];
        memcpy(k, c->key, sizeof(c->key));
        k[sizeof(c->key)] = '\0';
        field(&b, "level", dom__level_name(c->level));
        field(&b, "key", k);
        field_int(&b, "jurisdiction", (int64_t)c->jurisdiction);
        snprintf(key, sizeof(key), "%08zu", i);
        put(&w, dbi[DB_CLAIMS], key, &b);
    }
    if ((rc = w.rc) != 0)
        goto fail;
    w.stage = "committing";
    rc = mdb_txn_commit(w.txn);
    w.txn = NULL;
    if (rc != 0)
        goto fail;
    if (generation != NULL)
        *generation = gen;
    free(b.p);
    return 0;

fail:
    if (w.txn != NULL)
        mdb_txn_abort(w.txn);
    if (rc > 0 || rc < -1)
        snprintf(err, errlen, "%s: %s", w.stage, rc == ENOMEM ? "out of memory" : mdb_strerror(rc));
    free(b.p);
    return rc;
}

int dom_rules_compile_ex(const dom_ruleset_t *rs, const char *path, uint64_t *generation, char *err, size_t errlen)
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
            rc = mdb_env_set_maxdbs(env, DB_COUNT + 2);
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
        rc = write_all(env, rs, generation, err, errlen);
        mdb_env_close(env);
        if (rc == 0)
            return 0;
        if (rc == MDB_MAP_FULL && mapsize < MAPSIZE_MAX) {
            mapsize *= 2;
            continue;
        }
        return rc == -1 ? DOM_ECORRUPT : rc == ENOMEM ? DOM_ENOMEM : DOM_ELMDB;
    }
}

int dom_rules_compile(const dom_ruleset_t *rs, const char *path, char *err, size_t errlen)
{
    return dom_rules_compile_ex(rs, path, NULL, err, errlen);
}
