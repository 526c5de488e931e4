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
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <lmdb.h>
#include "ruleset_internal.h"

#define MAX_RECORD (64 * 1024)
#define MAX_FIELDS 16

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

/* ---- record decoding ---- */

typedef struct record {
    size_t n;
    struct {
        const char *name, *value;
        size_t name_len, value_len;
    } f[MAX_FIELDS];
} record_t;

typedef struct loader {
    MDB_txn *txn;
    dom_ruleset_t *rs;
    dom__arena_t *arena;
    char *err;
    size_t errlen;
    int failed; /* DOM_ECORRUPT, DOM_ENOMEM or DOM_ELMDB */
} loader_t;

__attribute__((format(printf, 3, 4))) static int fail(loader_t *l, int code, const char *fmt, ...)
{
    if (l->failed == 0) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(l->err, l->errlen, fmt, ap);
        va_end(ap);
        l->failed = code;
    }
    return code;
}

/* Splits "name=value\n..." into fields; anything else is corruption. */
static int split(loader_t *l, const char *db, const MDB_val *key, const MDB_val *val, record_t *rec)
{
    const char *p = val->mv_data, *end = p + val->mv_size;
    rec->n = 0;
    if (val->mv_size > MAX_RECORD)
        return fail(l, DOM_ECORRUPT, "%s record %.*s is too large", db, (int)(key->mv_size < 40 ? key->mv_size : 40),
                    (const char *)key->mv_data);
    while (p < end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        const char *eq = memchr(p, '=', nl != NULL ? (size_t)(nl - p) : 0);
        if (nl == NULL || eq == NULL || eq == p || rec->n >= MAX_FIELDS)
            return fail(l, DOM_ECORRUPT, "%s record %.*s is malformed", db,
                        (int)(key->mv_size < 40 ? key->mv_size : 40), (const char *)key->mv_data);
        rec->f[rec->n].name = p;
        rec->f[rec->n].name_len = (size_t)(eq - p);
        rec->f[rec->n].value = eq + 1;
        rec->f[rec->n].value_len = (size_t)(nl - eq - 1);
        ++rec->n;
        p = nl + 1;
    }
    return 0;
}

/* The unescaped value of a field, in the arena; NULL (and l->failed) when missing or malformed. */
static const char *get(loader_t *l, const char *db, const record_t *rec, const char *name, size_t max)
{
    for (size_t i = 0; i < rec->n; ++i) {
        if (rec->f[i].name_len != strlen(name) || memcmp(rec->f[i].name, name, rec->f[i].name_len) != 0)
            continue;
        const char *s = rec->f[i].value;
        size_t n = rec->f[i].value_len, o = 0;
        char *out = dom__arena_alloc(l->arena, n + 1);
        if (out == NULL) {
            fail(l, DOM_ENOMEM, "out of memory");
            return NULL;
        }
        for (size_t k = 0; k < n; ++k) {
            unsigned char c = (unsigned char)s[k];
            if (c == '\\') {
                char e = ++k < n ? s[k] : '\0';
                c = e == '\\' ? '\\' : e == 'n' ? '\n' : e == 't' ? '\t' : 0;
            }
            if (c == 0 || (c < 0x20 && c != '\n' && c != '\t')) {
                fail(l, DOM_ECORRUPT, "%s: field %s has a bad byte", db, name);
                return NULL;
            }
            out[o++] = (char)c;
        }
        if (o > max) {
            fail(l, DOM_ECORRUPT, "%s: field %s is too long", db, name);
            return NULL;
        }
        return out;
    }
    fail(l, DOM_ECORRUPT, "%s: a record has no %s field", db, name);
    return NULL;
}

static const char *get_name(loader_t *l, const char *db, const record_t *rec, const char *name)
{
    const char *s = get(l, db, rec, name, DOM_NAME_MAX);
    if (s != NULL && s[0] == '\0') {
        fail(l, DOM_ECORRUPT, "%s: empty %s", db, name);
        return NULL;
    }
    return s;
}

static int get_int(loader_t *l, const char *db, const record_t *rec, const char *name, int64_t min, int64_t max,
                   int64_t *out)
{
    const char *s = get(l, db, rec, name, 24);
    if (s == NULL)
        return -1;
    char *end;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (s[0] == '\0' || *end != '\0' || errno != 0 || v < min || v > max)
        return fail(l, DOM_ECORRUPT, "%s: field %s is not a number in range", db, name);
    *out = v;
    return 0;
}

static int open_db(loader_t *l, const char *name, MDB_dbi *dbi, size_t *entries)
{
    int rc = mdb_dbi_open(l->txn, name, 0, dbi);
    if (rc == MDB_NOTFOUND || rc == MDB_INCOMPATIBLE)
        return fail(l, DOM_ECORRUPT, "not a domicile rules database (no \"%s\" table)", name);
    if (rc != 0)
        return fail(l, DOM_ELMDB, "opening table %s: %s", name, mdb_strerror(rc));
    MDB_stat st;
    if ((rc = mdb_stat(l->txn, *dbi, &st)) != 0)
        return fail(l, DOM_ELMDB, "reading table %s: %s", name, mdb_strerror(rc));
    if (st.ms_entries > 1000000)
        return fail(l, DOM_ECORRUPT, "table %s has an implausible %zu records", name, (size_t)st.ms_entries);
    *entries = st.ms_entries;
    return 0;
}

/* Walks a table whose keys are %08zu indices 0..n-1 in order; calls fn for each. */
static int each(loader_t *l, const char *db, MDB_dbi dbi, size_t n, int (*fn)(loader_t *, size_t, record_t *, void *),
                void *ctx)
{
    MDB_cursor *cur;
    int rc = mdb_cursor_open(l->txn, dbi, &cur);
    if (rc != 0)
        return fail(l, DOM_ELMDB, "reading %s: %s", db, mdb_strerror(rc));
    MDB_val k, v;
    size_t i = 0;
    for (rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST); rc == 0 && l->failed == 0;
         rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT), ++i) {
        char want[24];
        snprintf(want, sizeof(want), "%08zu", i);
        if (i >= n || k.mv_size != strlen(want) || memcmp(k.mv_data, want, k.mv_size) != 0) {
            fail(l, DOM_ECORRUPT, "%s: unexpected key at position %zu", db, i);
            break;
        }
        record_t rec;
        if (split(l, db, &k, &v, &rec) != 0 || fn(l, i, &rec, ctx) != 0)
            break;
    }
    mdb_cursor_close(cur);
    if (l->failed == 0 && rc != 0 && rc != MDB_NOTFOUND)
        fail(l, DOM_ELMDB, "reading %s: %s", db, mdb_strerror(rc));
    if (l->failed == 0 && i != n)
        fail(l, DOM_ECORRUPT, "%s: %zu records, expected %zu", db, i, n);
    return l->failed;
}

static int find_class(const dom_ruleset_t *rs, const char *name)
{
    for (size_t i = 0; i < rs->n_classes; ++i)
        if (strcmp(rs->classes[i].name, name) == 0)
            return (int)i;
    return -1;
}

static int load_region(loader_t *l, size_t i, record_t *rec, void *ctx)
{
    dom_region_t *r = &l->rs->regions[i];
    if ((r->name = get_name(l, "regions", rec, "name")) == NULL ||
        (r->location = get(l, "regions", rec, "location", 2)) == NULL ||
        (r->description = get(l, "regions", rec, "description", 4096)) == NULL)
        return -1;
    for (size_t k = 0; k < i; ++k)
        if (strcmp(l->rs->regions[k].name, r->name) == 0)
            return fail(l, DOM_ECORRUPT, "regions: duplicate region %s", r->name);
    return 0;
}

static int load_class(loader_t *l, size_t i, record_t *rec, void *ctx)
{
    dom_data_class_t *c = &l->rs->classes[i];
    int64_t personal;
    if ((c->name = get_name(l, "classes", rec, "name")) == NULL ||
        (c->description = get(l, "classes", rec, "description", 4096)) == NULL ||
        get_int(l, "classes", rec, "personal", 0, 1, &personal) != 0)
        return -1;
    c->personal = (int)personal;
    for (size_t k = 0; k < i; ++k)
        if (strcmp(l->rs->classes[k].name, c->name) == 0)
            return fail(l, DOM_ECORRUPT, "classes: duplicate class %s", c->name);
    return 0;
}

static int load_route(loader_t *l, size_t i, record_t *rec, void *ctx)
{
    dom_route_rule_t *r = &l->rs->routes[i];
    const char *methods, *cls;
    if ((r->prefix = get(l, "routes", rec, "prefix", 4096)) == NULL ||
        (methods = get(l, "routes", rec, "methods", 128)) == NULL ||
        (cls = get_name(l, "routes", rec, "class")) == NULL)
        return -1;
    r->prefix_len = strlen(r->prefix);
    if (r->prefix[0] != '/')
        return fail(l, DOM_ECORRUPT, "routes: prefix %s is not a path", r->prefix);
    int c = find_class(l->rs, cls);
    if (c < 0)
        return fail(l, DOM_ECORRUPT, "routes: unknown class %s", cls);
    r->class_index = (size_t)c;
    if (strcmp(methods, "ALL") == 0) {
        r->methods = DOM_METHOD_ALL;
        return 0;
    }
    r->methods = 0;
    for (const char *p = methods; *p != '\0';) {
        const char *comma = strchr(p, ',');
        size_t n = comma != NULL ? (size_t)(comma - p) : strlen(p);
        unsigned bit = n == 5 && memcmp(p, "OTHER", 5) == 0 ? DOM_METHOD_OTHER : dom_method_bit(p, n);
        if (bit == DOM_METHOD_OTHER && !(n == 5 && memcmp(p, "OTHER", 5) == 0))
            return fail(l, DOM_ECORRUPT, "routes: unknown method in %s", methods);
        r->methods |= bit;
        p += n + (comma != NULL);
    }
    if (r->methods == 0)
        return fail(l, DOM_ECORRUPT, "routes: no methods");
    return 0;
}

static int parse_regions(loader_t *l, const char *list, uint16_t *out, size_t *n)
{
    *n = 0;
    for (const char *p = list; *p != '\0';) {
        const char *comma = strchr(p, ',');
        size_t len = comma != NULL ? (size_t)(comma - p) : strlen(p);
        size_t r;
        for (r = 0; r < l->rs->n_regions; ++r)
            if (strlen(l->rs->regions[r].name) == len && memcmp(l->rs->regions[r].name, p, len) == 0)
                break;
        if (r == l->rs->n_regions || *n >= DOM_MAX_REGIONS)
            return fail(l, DOM_ECORRUPT, "class_rules: unknown region or too many in \"%s\"", list);
        out[(*n)++] = (uint16_t)r;
        p += len + (comma != NULL);
    }
    return 0;
}

static int load_jurisdiction(loader_t *l, size_t i, record_t *rec, void *ctx)
{
    MDB_dbi rules_dbi = *(MDB_dbi *)ctx;
    dom_ruleset_t *rs = l->rs;
    dom_jurisdiction_t *j = &rs->jurisdictions[i];
    const char *mode, *unavail;
    int64_t is_default;
    const char *db = "jurisdictions";
    if ((j->name = get_name(l, db, rec, "name")) == NULL ||
        (j->version = get(l, db, rec, "version", DOM_NAME_MAX)) == NULL ||
        get_int(l, db, rec, "effective", 0, INT64_C(253402300799), &j->effective) != 0 ||
        (mode = get(l, db, rec, "mode", 16)) == NULL || get_int(l, db, rec, "default", 0, 1, &is_default) != 0 ||
        (j->applies_to = get(l, db, rec, "applies_to", 1 << 16)) == NULL ||
        (unavail = get(l, db, rec, "on_unavailable", 16)) == NULL ||
        (j->policy_url = get(l, db, rec, "policy_url", 4096)) == NULL ||
        (j->law = get(l, db, rec, "law", 4096)) == NULL ||
        (j->source_file = get(l, db, rec, "source_file", 4096)) == NULL)
        return -1;
    j->is_default = (int)is_default;
    if (strcmp(mode, "enforce") == 0)
        j->mode = DOM_MODE_ENFORCE;
    else if (strcmp(mode, "report") == 0)
        j->mode = DOM_MODE_REPORT;
    else
        return fail(l, DOM_ECORRUPT, "%s: %s has unknown mode %s", db, j->name, mode);
    if (strcmp(unavail, "reject") == 0)
        j->on_unavailable = DOM_ON_UNAVAILABLE_REJECT;
    else if (strcmp(unavail, "next_region") == 0)
        j->on_unavailable = DOM_ON_UNAVAILABLE_NEXT_REGION;
    else
        return fail(l, DOM_ECORRUPT, "%s: %s has unknown on_unavailable %s", db, j->name, unavail);
    /* dom_ruleset_find() binary-searches by (name, effective): the order is part of the format */
    if (i > 0) {
        const dom_jurisdiction_t *p = &rs->jurisdictions[i - 1];
        int c = strcmp(p->name, j->name);
        if (c > 0 || (c == 0 && p->effective >= j->effective))
            return fail(l, DOM_ECORRUPT, "%s: records out of order at %s", db, j->name);
    }
    if ((j->classes = dom__arena_calloc(l->arena, rs->n_classes, sizeof(dom_class_rule_t))) == NULL)
        return fail(l, DOM_ENOMEM, "out of memory");
    for (size_t c = 0; c < rs->n_classes; ++c) {
        char key[96];
        snprintf(key, sizeof(key), "%08zu/%s", i, rs->classes[c].name);
        MDB_val k = {strlen(key), key}, v;
        int rc = mdb_get(l->txn, rules_dbi, &k, &v);
        if (rc == MDB_NOTFOUND)
            return fail(l, DOM_ECORRUPT, "class_rules: %s has no rule for class %s", j->name, rs->classes[c].name);
        if (rc != 0)
            return fail(l, DOM_ELMDB, "reading class_rules: %s", mdb_strerror(rc));
        record_t r;
        if (split(l, "class_rules", &k, &v, &r) != 0)
            return -1;
        dom_class_rule_t *cr = &j->classes[c];
        int64_t deny, anonymize;
        const char *reason, *write, *read, *consent;
        if (get_int(l, "class_rules", &r, "deny", 0, 1, &deny) != 0 ||
            (reason = get(l, "class_rules", &r, "reason", DOM_NAME_MAX)) == NULL ||
            (write = get(l, "class_rules", &r, "write", 4096)) == NULL ||
            (read = get(l, "class_rules", &r, "read", 4096)) == NULL ||
            (consent = get(l, "class_rules", &r, "consent", 16)) == NULL ||
            get_int(l, "class_rules", &r, "anonymize", 0, 1, &anonymize) != 0 ||
            parse_regions(l, write, cr->write_regions, &cr->n_write) != 0 ||
            parse_regions(l, read, cr->read_regions, &cr->n_read) != 0)
            return -1;
        cr->deny = (int)deny;
        cr->anonymize = (int)anonymize;
        cr->deny_reason = reason[0] != '\0' ? reason : (cr->deny ? "class_denied" : NULL);
        if (strcmp(consent, "required") == 0)
            cr->consent_required = 1;
        else if (strcmp(consent, "none") != 0)
            return fail(l, DOM_ECORRUPT, "class_rules: bad consent %s", consent);
        /* what check guarantees, the store re-checks: a class routes somewhere or is denied */
        if (!cr->deny && cr->n_write == 0)
            return fail(l, DOM_ECORRUPT, "class_rules: %s/%s has no write regions and no deny", j->name,
                        rs->classes[c].name);
    }
    return 0;
}

static int load_claim(loader_t *l, size_t i, record_t *rec, void *ctx)
{
    dom_rule_claim_t *c = &l->rs->claims[i];
    const char *level, *key;
    int64_t jur;
    if ((level = get(l, "claims", rec, "level", 16)) == NULL ||
        (key = get(l, "claims", rec, "key", sizeof(c->key) - 1)) == NULL ||
        get_int(l, "claims", rec, "jurisdiction", 0, (int64_t)l->rs->n_jurisdictions - 1, &jur) != 0)
        return -1;
    if (strcmp(level, "subdivision") == 0)
        c->level = DOM_LEVEL_SUBDIVISION;
    else if (strcmp(level, "country") == 0)
        c->level = DOM_LEVEL_COUNTRY;
    else if (strcmp(level, "group") == 0)
        c->level = DOM_LEVEL_GROUP;
    else
        return fail(l, DOM_ECORRUPT, "claims: unknown level %s", level);
    if (key[0] == '\0')
        return fail(l, DOM_ECORRUPT, "claims: empty key");
    memset(c->key, 0, sizeof(c->key));
    memcpy(c->key, key, strlen(key));
    c->jurisdiction = (size_t)jur;
    return 0;
}

static int meta_get(loader_t *l, MDB_dbi meta, const char *name, char *out, size_t outlen)
{
    MDB_val k = {strlen(name), (void *)name}, v;
    int rc = mdb_get(l->txn, meta, &k, &v);
    if (rc == MDB_NOTFOUND)
        return fail(l, DOM_ECORRUPT, "meta: no %s", name);
    if (rc != 0)
        return fail(l, DOM_ELMDB, "reading meta: %s", mdb_strerror(rc));
    if (v.mv_size >= outlen || memchr(v.mv_data, '\0', v.mv_size) != NULL)
        return fail(l, DOM_ECORRUPT, "meta: bad %s", name);
    memcpy(out, v.mv_data, v.mv_size);
    out[v.mv_size] = '\0';
    return 0;
}

/* One snapshot, in one read transaction. */
static int load(MDB_env *env, dom_ruleset_t **out, uint64_t *txnid, char *err, size_t errlen)
{
    loader_t l = {NULL, NULL, NULL, err, errlen, 0};
    MDB_dbi meta, regions, classes, routes, jurs, rules, claims;
    size_t n_meta, n_rules;
    char buf[128];
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
    if ((l.rs = dom__ruleset_new()) == NULL) {
        fail(&l, DOM_ENOMEM, "out of memory");
        goto cleanup;
    }
    l.arena = dom__ruleset_arena(l.rs);
    dom_ruleset_t *rs = l.rs;
    if (open_db(&l, "meta", &meta, &n_meta) != 0 || meta_get(&l, meta, "format", buf, sizeof(buf)) != 0)
        goto cleanup;
    if (strcmp(buf, DOM__RULES_FORMAT) != 0) {
        fail(&l, DOM_ECORRUPT, "not a %s database (format \"%.40s\")", DOM__RULES_FORMAT, buf);
        goto cleanup;
    }
    char *end;
    if (meta_get(&l, meta, "generation", buf, sizeof(buf)) != 0)
        goto cleanup;
    rs->generation = strtoull(buf, &end, 10);
    if (buf[0] == '\0' || *end != '\0') {
        fail(&l, DOM_ECORRUPT, "meta: bad generation");
        goto cleanup;
    }
    if (meta_get(&l, meta, "source_hash", rs->source_hash, sizeof(rs->source_hash)) != 0)
        goto cleanup;
    if (strlen(rs->source_hash) != 64 || strspn(rs->source_hash, "0123456789abcdef") != 64) {
        fail(&l, DOM_ECORRUPT, "meta: bad source_hash");
        goto cleanup;
    }
    if (meta_get(&l, meta, "compiled_at", buf, sizeof(buf)) != 0)
        goto cleanup;
    rs->compiled_at = strtoll(buf, &end, 10);
    if (buf[0] == '\0' || *end != '\0') {
        fail(&l, DOM_ECORRUPT, "meta: bad compiled_at");
        goto cleanup;
    }
    if (open_db(&l, "regions", &regions, &rs->n_regions) != 0 ||
        open_db(&l, "classes", &classes, &rs->n_classes) != 0 || open_db(&l, "routes", &routes, &rs->n_routes) != 0 ||
        open_db(&l, "jurisdictions", &jurs, &rs->n_jurisdictions) != 0 ||
        open_db(&l, "class_rules", &rules, &n_rules) != 0 || open_db(&l, "claims", &claims, &rs->n_claims) != 0)
        goto cleanup;
    if (rs->n_classes == 0 || rs->n_regions == 0 || rs->n_regions > UINT16_MAX) {
        fail(&l, DOM_ECORRUPT, "no classes or regions");
        goto cleanup;
    }
    if (n_rules != rs->n_jurisdictions * rs->n_classes) {
        fail(&l, DOM_ECORRUPT, "class_rules: %zu records, expected %zu", n_rules, rs->n_jurisdictions * rs->n_classes);
        goto cleanup;
    }
    rs->regions = dom__arena_calloc(l.arena, rs->n_regions, sizeof(*rs->regions));
    rs->classes = dom__arena_calloc(l.arena, rs->n_classes, sizeof(*rs->classes));
    rs->routes = dom__arena_calloc(l.arena, rs->n_routes, sizeof(*rs->routes));
    rs->jurisdictions = dom__arena_calloc(l.arena, rs->n_jurisdictions, sizeof(*rs->jurisdictions));
    rs->claims = dom__arena_calloc(l.arena, rs->n_claims, sizeof(*rs->claims));
    if (!rs->regions || !rs->classes || !rs->routes || !rs->jurisdictions || !rs->claims) {
        fail(&l, DOM_ENOMEM, "out of memory");
        goto cleanup;
    }
    if (each(&l, "regions", regions, rs->n_regions, load_region, NULL) != 0 ||
        each(&l, "classes", classes, rs->n_classes, load_class, NULL) != 0 ||
        each(&l, "routes", routes, rs->n_routes, load_route, NULL) != 0 ||
        each(&l, "jurisdictions", jurs, rs->n_jurisdictions, load_jurisdiction, &rules) != 0 ||
        each(&l, "claims", claims, rs->n_claims, load_claim, NULL) != 0)
        goto cleanup;
    if (meta_get(&l, meta, "default_class", buf, sizeof(buf)) != 0)
        goto cleanup;
    int dc = find_class(rs, buf);
    if (dc < 0) {
        fail(&l, DOM_ECORRUPT, "meta: unknown default_class %s", buf);
        goto cleanup;
    }
    rs->default_class = (size_t)dc;
    dom__ruleset_sort_claims(rs);
    dom__ruleset_sort_routes(rs);
    *txnid = mdb_txn_id(l.txn);

cleanup:
    mdb_txn_abort(l.txn);
    if (l.failed != 0) {
        dom_ruleset_release(l.rs);
        return l.failed;
    }
    *out = l.rs;
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
