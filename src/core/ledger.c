/*
 * The ledger of a compiled rules database (docs/internals/ledger.md): every version ever
 * compiled into it and every compile, in two LMDB tables beside the live set that no
 * compile empties. Records use the rules database's framing ("name=value\n", escaped).
 *
 * Reading copies the whole ledger into memory in one read transaction and closes the
 * file (a process may then also hold a live store of the same file: LMDB forbids two
 * environments of one file in one process only while both are open). Every version's
 * text is hashed again on the way in: a record whose text does not match its hash is
 * corruption, never trusted.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <lmdb.h>
#include "ledger_internal.h"
#include "rules_record_internal.h"

#define MAX_LEDGER_RECORDS 1000000

typedef struct version_entry {
    dom_ledger_version_t v;
    const char *raw; /* the record as stored, carried byte for byte */
    size_t raw_len;
} version_entry_t;

typedef struct compile_entry {
    dom_ledger_compile_t c;
    const char *raw;
    size_t raw_len;
} compile_entry_t;

struct dom_ledger {
    dom__arena_t *arena;
    version_entry_t *versions;
    size_t n_versions;
    compile_entry_t *compiles;
    size_t n_compiles;
};

/* ---- records ---- */

/* The unescaped value of field `name` of a record, in the arena; NULL when missing or malformed. */
static char *field(dom__arena_t *arena, const char *rec, size_t len, const char *name)
{
    size_t nl = strlen(name);
    const char *p = rec, *end = rec + len;
    while (p < end) {
        const char *eol = memchr(p, '\n', (size_t)(end - p));
        if (eol == NULL)
            return NULL;
        if ((size_t)(eol - p) > nl && memcmp(p, name, nl) == 0 && p[nl] == '=') {
            size_t n = (size_t)(eol - p) - nl - 1;
            char *out = dom__arena_alloc(arena, n + 1);
            if (out == NULL || dom__record_unescape(p + nl + 1, n, out) == (size_t)-1)
                return NULL;
            return out;
        }
        p = eol + 1;
    }
    return NULL;
}

static int parse_u64(const char *s, uint64_t *out)
{
    char *end;
    if (s == NULL || *s < '0' || *s > '9')
        return -1;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno != 0 || *end != '\0')
        return -1;
    *out = v;
    return 0;
}

static int is_hash(const char *s)
{
    if (s == NULL || strlen(s) != 64)
        return 0;
    for (size_t i = 0; i < 64; ++i)
        if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
            return 0;
    return 1;
}

/* Splits a comma list in the arena into at most max items; returns the count or -1. */
static int split_list(dom__arena_t *arena, const char *list, const char **items, size_t max)
{
    size_t n = 0;
    if (list[0] == '\0')
        return 0;
    for (const char *p = list;;) {
        const char *comma = strchr(p, ',');
        size_t len = comma != NULL ? (size_t)(comma - p) : strlen(p);
        if (n >= max || len == 0 || (items[n++] = dom__arena_strndup(arena, p, len)) == NULL)
            return -1;
        if (comma == NULL)
            return (int)n;
        p = comma + 1;
    }
}

static int class_cmp(const void *a, const void *b)
{
    return strcmp(((const dom_ledger_class_t *)a)->name, ((const dom_ledger_class_t *)b)->name);
}

/* Reads what a version decides from its canonical text. */
static int parse_text(dom__arena_t *arena, dom_ledger_version_t *v)
{
    const char *t = v->text, *end = t + v->text_len;
    dom_ledger_class_t *classes = NULL;
    size_t n = 0, cap = 0;
    while (t < end) {
        const char *eol = memchr(t, '\n', (size_t)(end - t)), *eq = memchr(t, '=', eol ? (size_t)(eol - t) : 0);
        if (eol == NULL || eq == NULL)
            return -1;
        char *value = dom__arena_alloc(arena, (size_t)(eol - eq));
        if (value == NULL || dom__record_unescape(eq + 1, (size_t)(eol - eq - 1), value) == (size_t)-1)
            return -1;
        size_t klen = (size_t)(eq - t);
        if (klen == 9 && memcmp(t, "effective", 9) == 0) {
            v->effective = value;
        } else if (klen == 4 && memcmp(t, "mode", 4) == 0) {
            v->mode = value;
        } else if (klen == 7 && memcmp(t, "default", 7) == 0) {
            v->is_default = strcmp(value, "true") == 0;
        } else if (klen > 6 && memcmp(t, "class.", 6) == 0) {
            const char *name = t + 6, *dot = eq;
            while (dot > name && *dot != '.')
                --dot;
            if (dot == name)
                return -1;
            dom_ledger_class_t *c = n > 0 && strlen(classes[n - 1].name) == (size_t)(dot - name) &&
                                            memcmp(classes[n - 1].name, name, (size_t)(dot - name)) == 0
                                        ? &classes[n - 1]
                                        : NULL;
            if (c == NULL) { /* lines are sorted: a class's fields are neighbours */
                if (n == cap) {
                    size_t ncap = cap ? cap * 2 : 8;
                    dom_ledger_class_t *nc = dom__arena_calloc(arena, ncap, sizeof(*nc));
                    if (nc == NULL)
                        return -1;
                    if (n > 0)
                        memcpy(nc, classes, n * sizeof(*nc));
                    classes = nc;
                    cap = ncap;
                }
                c = &classes[n++];
                if ((c->name = dom__arena_strndup(arena, name, (size_t)(dot - name))) == NULL)
                    return -1;
                c->reason = "";
            }
            const char *f = dot + 1;
            size_t flen = (size_t)(eq - f);
            int r = 0;
            if (flen == 4 && memcmp(f, "deny", 4) == 0)
                c->deny = strcmp(value, "true") == 0;
            else if (flen == 6 && memcmp(f, "reason", 6) == 0)
                c->reason = value;
            else if (flen == 5 && memcmp(f, "write", 5) == 0)
                r = split_list(arena, value, c->write, DOM_MAX_REGIONS), c->n_write = r > 0 ? (size_t)r : 0;
            else if (flen == 4 && memcmp(f, "read", 4) == 0)
                r = split_list(arena, value, c->read, DOM_MAX_REGIONS), c->n_read = r > 0 ? (size_t)r : 0;
            else if (flen == 7 && memcmp(f, "consent", 7) == 0)
                c->consent_required = strcmp(value, "required") == 0;
            else if (flen == 9 && memcmp(f, "anonymize", 9) == 0)
                c->anonymize = strcmp(value, "true") == 0;
            if (r < 0)
                return -1;
        }
        t = eol + 1;
    }
    if (n > 1)
        qsort(classes, n, sizeof(*classes), class_cmp);
    v->classes = classes;
    v->n_classes = n;
    return v->effective != NULL && v->mode != NULL ? 0 : -1;
}

static int decode_version(dom__arena_t *arena, const MDB_val *k, const MDB_val *val, version_entry_t *e, char *err,
                          size_t errlen)
{
    dom_ledger_version_t *v = &e->v;
    const char *rec = val->mv_data;
    size_t len = val->mv_size;
    char check[65];
    uint64_t t = 0;
    memset(e, 0, sizeof(*e));
    v->hash = field(arena, rec, len, "hash");
    v->jurisdiction = field(arena, rec, len, "jurisdiction");
    v->version = field(arena, rec, len, "version");
    v->source_file = field(arena, rec, len, "source_file");
    v->source_sha256 = field(arena, rec, len, "source_sha256");
    v->source_rev = field(arena, rec, len, "source_rev");
    char *text = field(arena, rec, len, "text");
    if (!is_hash(v->hash) || k->mv_size != 64 || memcmp(k->mv_data, v->hash, 64) != 0 || v->jurisdiction == NULL ||
        v->version == NULL || v->source_file == NULL || v->source_sha256 == NULL || v->source_rev == NULL ||
        text == NULL || parse_u64(field(arena, rec, len, "first_compiled"), &t) != 0) {
        snprintf(err, errlen, "ledger version %.*s is malformed", (int)(k->mv_size < 64 ? k->mv_size : 64),
                 (const char *)k->mv_data);
        return DOM_ECORRUPT;
    }
    v->first_compiled = (int64_t)t;
    v->text = text;
    v->text_len = strlen(text);
    if (dom_sha256_hex(text, v->text_len, check) != 0 || strcmp(check, v->hash) != 0) {
        snprintf(err, errlen, "ledger version %s: its text does not match its hash", v->hash);
        return DOM_ECORRUPT;
    }
    if (parse_text(arena, v) != 0) {
        snprintf(err, errlen, "ledger version %s: its text is not a canonical rule text", v->hash);
        return DOM_ECORRUPT;
    }
    e->raw = dom__arena_strndup(arena, rec, len);
    e->raw_len = len;
    return e->raw != NULL ? 0 : DOM_ENOMEM;
}

static int decode_compile(dom__arena_t *arena, const MDB_val *k, const MDB_val *val, compile_entry_t *e, char *err,
                          size_t errlen)
{
    dom_ledger_compile_t *c = &e->c;
    const char *rec = val->mv_data;
    size_t len = val->mv_size;
    uint64_t t = 0;
    memset(e, 0, sizeof(*e));
    c->source_rev = field(arena, rec, len, "source_rev");
    c->ruleset = field(arena, rec, len, "ruleset");
    c->source_hash = field(arena, rec, len, "source_hash");
    c->sources = field(arena, rec, len, "sources");
    const char *live = field(arena, rec, len, "live");
    int ok = parse_u64(field(arena, rec, len, "seq"), &c->seq) == 0 &&
             parse_u64(field(arena, rec, len, "compiled_at"), &t) == 0 &&
             parse_u64(field(arena, rec, len, "generation"), &c->generation) == 0 && c->source_rev != NULL &&
             is_hash(c->ruleset) && c->source_hash != NULL && c->sources != NULL && live != NULL;
    if (ok) {
        c->compiled_at = (int64_t)t;
        size_t n = live[0] != '\0';
        for (const char *p = live; *p; ++p)
            n += *p == ',';
        const char **items = dom__arena_calloc(arena, n, sizeof(char *));
        ok = items != NULL && split_list(arena, live, items, n) == (int)n;
        c->live = items;
        c->n_live = n;
    }
    if (!ok) {
        snprintf(err, errlen, "ledger compile %.*s is malformed", (int)(k->mv_size < 24 ? k->mv_size : 24),
                 (const char *)k->mv_data);
        return DOM_ECORRUPT;
    }
    e->raw = dom__arena_strndup(arena, rec, len);
    e->raw_len = len;
    return e->raw != NULL ? 0 : DOM_ENOMEM;
}

static int version_cmp(const void *a, const void *b)
{
    const dom_ledger_version_t *x = &((const version_entry_t *)a)->v, *y = &((const version_entry_t *)b)->v;
    int c = strcmp(x->jurisdiction, y->jurisdiction);
    if (c == 0)
        c = strcmp(x->effective, y->effective);
    if (c == 0)
        c = x->first_compiled < y->first_compiled ? -1 : x->first_compiled > y->first_compiled;
    return c != 0 ? c : strcmp(x->hash, y->hash);
}

/* Reads one table into a fresh array. */
static int read_table(MDB_txn *txn, const char *name, dom__arena_t *arena, size_t size, void **out, size_t *n,
                      int (*decode)(dom__arena_t *, const MDB_val *, const MDB_val *, void *, char *, size_t),
                      char *err, size_t errlen)
{
    MDB_dbi dbi;
    MDB_stat st;
    MDB_cursor *cur = NULL;
    MDB_val k, v;
    *n = 0;
    int rc = mdb_dbi_open(txn, name, 0, &dbi);
    if (rc == MDB_NOTFOUND)
        return 0; /* compiled before ledgers existed */
    if (rc != 0 || (rc = mdb_stat(txn, dbi, &st)) != 0 || (rc = mdb_cursor_open(txn, dbi, &cur)) != 0) {
        snprintf(err, errlen, "reading %s: %s", name, mdb_strerror(rc));
        return DOM_ELMDB;
    }
    if (st.ms_entries > MAX_LEDGER_RECORDS) {
        mdb_cursor_close(cur);
        snprintf(err, errlen, "%s has an implausible %zu records", name, (size_t)st.ms_entries);
        return DOM_ECORRUPT;
    }
    char *arr = dom__arena_calloc(arena, st.ms_entries, size);
    int ret = arr != NULL ? 0 : DOM_ENOMEM;
    for (rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST); rc == 0 && ret == 0 && *n < st.ms_entries;
         rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT))
        if ((ret = decode(arena, &k, &v, arr + *n * size, err, errlen)) == 0)
            ++*n;
    mdb_cursor_close(cur);
    *out = arr;
    return ret;
}

static int decode_version_v(dom__arena_t *a, const MDB_val *k, const MDB_val *v, void *e, char *err, size_t len)
{
    return decode_version(a, k, v, e, err, len);
}

static int decode_compile_v(dom__arena_t *a, const MDB_val *k, const MDB_val *v, void *e, char *err, size_t len)
{
    return decode_compile(a, k, v, e, err, len);
}

static int read_ledger(MDB_txn *txn, dom_ledger_t *l, char *err, size_t errlen)
{
    void *vs = NULL, *cs = NULL;
    int ret = read_table(txn, DOM__LEDGER_VERSIONS, l->arena, sizeof(version_entry_t), &vs, &l->n_versions,
                         decode_version_v, err, errlen);
    if (ret == 0)
        ret = read_table(txn, DOM__LEDGER_COMPILES, l->arena, sizeof(compile_entry_t), &cs, &l->n_compiles,
                         decode_compile_v, err, errlen);
    l->versions = vs;
    l->compiles = cs;
    if (ret == 0 && l->n_versions > 1)
        qsort(l->versions, l->n_versions, sizeof(*l->versions), version_cmp);
    return ret;
}

int dom_ledger_open(const char *path, dom_ledger_t **out, char *err, size_t errlen)
{
    char dummy[8];
    MDB_env *env = NULL;
    MDB_txn *txn = NULL;
    dom_ledger_t *l = NULL;
    int ret = DOM_OK, rc;
    if (err == NULL || errlen == 0) {
        err = dummy;
        errlen = sizeof(dummy);
    }
    *out = NULL;
    if ((l = calloc(1, sizeof(*l))) == NULL || (l->arena = dom__arena_new()) == NULL) {
        ret = DOM_ENOMEM;
        goto cleanup;
    }
    if ((rc = mdb_env_create(&env)) != 0 || (rc = mdb_env_set_maxdbs(env, DOM__TABLE_COUNT + 4)) != 0 ||
        (rc = mdb_env_open(env, path, MDB_RDONLY | MDB_NOSUBDIR | MDB_NOTLS | MDB_NOLOCK, 0)) != 0 ||
        (rc = mdb_txn_begin(env, NULL, MDB_RDONLY, &txn)) != 0) {
        snprintf(err, errlen, "cannot open %s: %s", path, mdb_strerror(rc));
        ret = DOM_ELMDB;
        goto cleanup;
    }
    if ((ret = dom__rules_file_complete(env, err, errlen)) != 0)
        goto cleanup;
    /* a database of another kind is not a ledger */
    MDB_dbi meta;
    const char *fk = dom__rules_meta_key(DOM__META_FORMAT);
    MDB_val k = {strlen(fk), (void *)fk}, v;
    if (mdb_dbi_open(txn, dom__rules_table_name(DOM__TABLE_META), 0, &meta) != 0 || mdb_get(txn, meta, &k, &v) != 0 ||
        v.mv_size != strlen(DOM__RULES_FORMAT) || memcmp(v.mv_data, DOM__RULES_FORMAT, v.mv_size) != 0) {
        snprintf(err, errlen, "%s: not a %s database", path, DOM__RULES_FORMAT);
        ret = DOM_ECORRUPT;
        goto cleanup;
    }
    ret = read_ledger(txn, l, err, errlen);

cleanup:
    if (txn != NULL)
        mdb_txn_abort(txn);
    mdb_env_close(env);
    if (ret != 0)
        dom_ledger_close(l);
    else
        *out = l;
    return ret;
}

void dom_ledger_close(dom_ledger_t *ledger)
{
    if (ledger == NULL)
        return;
    dom__arena_free(ledger->arena);
    free(ledger);
}

size_t dom_ledger_n_versions(const dom_ledger_t *ledger)
{
    return ledger != NULL ? ledger->n_versions : 0;
}

const dom_ledger_version_t *dom_ledger_version_at(const dom_ledger_t *ledger, size_t i)
{
    return ledger != NULL && i < ledger->n_versions ? &ledger->versions[i].v : NULL;
}

size_t dom_ledger_n_compiles(const dom_ledger_t *ledger)
{
    return ledger != NULL ? ledger->n_compiles : 0;
}

const dom_ledger_compile_t *dom_ledger_compile_at(const dom_ledger_t *ledger, size_t i)
{
    return ledger != NULL && i < ledger->n_compiles ? &ledger->compiles[i].c : NULL;
}

/* Exact 64 hex digits, or a unique prefix of 8 or more. */
static int hash_matches(const char *have, const char *want, size_t wl)
{
    return strncmp(have, want, wl) == 0;
}

const dom_ledger_version_t *dom_ledger_find(const dom_ledger_t *ledger, const char *hash, int *err)
{
    const dom_ledger_version_t *found = NULL;
    size_t wl = hash != NULL ? strlen(hash) : 0;
    int e = DOM_ENOTFOUND;
    if (wl < 8 || wl > 64) {
        e = DOM_EINVAL;
        goto done;
    }
    for (size_t i = 0; ledger != NULL && i < ledger->n_versions; ++i) {
        if (!hash_matches(ledger->versions[i].v.hash, hash, wl))
            continue;
        if (found != NULL) {
            found = NULL;
            e = DOM_EINVAL;
            goto done;
        }
        found = &ledger->versions[i].v;
    }
done:
    if (found == NULL && err != NULL)
        *err = e;
    return found;
}

const dom_ledger_version_t *dom_ledger_find_version(const dom_ledger_t *ledger, const char *jurisdiction,
                                                    const char *version)
{
    for (size_t i = 0; ledger != NULL && i < ledger->n_versions; ++i)
        if (strcmp(ledger->versions[i].v.jurisdiction, jurisdiction) == 0 &&
            strcmp(ledger->versions[i].v.version, version) == 0)
            return &ledger->versions[i].v;
    return NULL;
}

const dom_ledger_compile_t *dom_ledger_find_ruleset(const dom_ledger_t *ledger, const char *ruleset)
{
    size_t wl = ruleset != NULL ? strlen(ruleset) : 0;
    if (wl < 8 || wl > 64)
        return NULL;
    for (size_t i = ledger != NULL ? ledger->n_compiles : 0; i-- > 0;)
        if (hash_matches(ledger->compiles[i].c.ruleset, ruleset, wl))
            return &ledger->compiles[i].c;
    return NULL;
}

const dom_ledger_class_t *dom_ledger_class(const dom_ledger_version_t *v, const char *class_name)
{
    for (size_t i = 0; v != NULL && class_name != NULL && i < v->n_classes; ++i)
        if (strcmp(v->classes[i].name, class_name) == 0)
            return &v->classes[i];
    return NULL;
}

int dom_ledger_allowed(const dom_ledger_version_t *v, const char *class_name, dom_access_t access, const char *region)
{
    const dom_ledger_class_t *c = dom_ledger_class(v, class_name);
    if (c == NULL)
        return DOM_ENOTFOUND;
    if (c->deny || region == NULL)
        return 0;
    const char *const *list = access == DOM_ACCESS_WRITE ? c->write : c->read;
    size_t n = access == DOM_ACCESS_WRITE ? c->n_write : c->n_read;
    for (size_t i = 0; i < n; ++i)
        if (strcmp(list[i], region) == 0)
            return 1;
    return 0;
}

/* ---- writing (the compiler's transaction) ---- */

static const char *base_name(const char *path)
{
    const char *slash = strrchr(path, '/');
    return slash != NULL ? slash + 1 : path;
}

/* The sha256 of source file `name` in rs->sources ("name sha256\n" lines), into out; "" when unknown. */
static void source_sha(const dom_ruleset_t *rs, const char *name, char out[65])
{
    size_t nl = strlen(name);
    out[0] = '\0';
    for (const char *p = rs->sources; p != NULL && *p != '\0';) {
        const char *eol = strchr(p, '\n');
        size_t len = eol != NULL ? (size_t)(eol - p) : strlen(p);
        if (len == nl + 65 && memcmp(p, name, nl) == 0 && p[nl] == ' ') {
            memcpy(out, p + nl + 1, 64);
            out[64] = '\0';
            return;
        }
        p = eol != NULL ? eol + 1 : p + len;
    }
}

static int put_raw(MDB_txn *txn, MDB_dbi dbi, const char *key, size_t klen, const void *data, size_t len)
{
    MDB_val k = {klen, (void *)key}, v = {len, (void *)data};
    int rc = mdb_put(txn, dbi, &k, &v, MDB_NOOVERWRITE);
    return rc == MDB_KEYEXIST ? 0 : rc; /* append-only: what is there stays */
}

/* Refuses a version of rs whose (jurisdiction, version) the table holds with other decisions. */
static int check_reuse(MDB_txn *txn, MDB_dbi dbi, dom__arena_t *arena, const dom_ruleset_t *rs, char *const *texts,
                       const size_t *lens, char *err, size_t errlen)
{
    MDB_cursor *cur;
    MDB_val k, v;
    int rc = mdb_cursor_open(txn, dbi, &cur), ret = 0;
    if (rc != 0)
        return rc;
    for (rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST); rc == 0 && ret == 0; rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
        const char *jn = field(arena, v.mv_data, v.mv_size, "jurisdiction");
        const char *jv = field(arena, v.mv_data, v.mv_size, "version");
        const char *src = field(arena, v.mv_data, v.mv_size, "source_file");
        const char *text = field(arena, v.mv_data, v.mv_size, "text");
        if (jn == NULL || jv == NULL || text == NULL || k.mv_size != 64)
            continue;
        for (size_t i = 0; i < rs->n_jurisdictions; ++i) {
            const dom_jurisdiction_t *j = &rs->jurisdictions[i];
            if (strcmp(j->name, jn) != 0 || strcmp(j->version, jv) != 0 ||
                dom_rule_same_decisions(texts[i], lens[i], text, strlen(text)))
                continue;
            snprintf(err, errlen,
                     "%s: %s version \"%s\" has sha256 %s, but the ledger holds that version with other content "
                     "(sha256 %.64s, from %s): give changed rules a new version",
                     j->source_file, jn, jv, j->hash, (const char *)k.mv_data, src != NULL ? src : "?");
            ret = DOM_ERULES;
            break;
        }
    }
    mdb_cursor_close(cur);
    return ret != 0 ? ret : rc == MDB_NOTFOUND ? 0 : rc;
}

int dom__ledger_write(MDB_txn *txn, const dom_ledger_t *carry, const dom_ruleset_t *rs, const char *source_rev,
                      uint64_t generation, char *err, size_t errlen)
{
    MDB_dbi vdbi, cdbi;
    MDB_cursor *cur = NULL;
    dom__record_buf_t b = {0};
    dom__arena_t *arena = dom__arena_new();
    char key[32], num[32], sha[65], **texts = NULL;
    size_t *lens = NULL;
    int rc = arena != NULL ? 0 : ENOMEM;
    const char *stage = "opening the ledger";
    if (source_rev == NULL)
        source_rev = "";
    if (rc != 0 || (rc = mdb_dbi_open(txn, DOM__LEDGER_VERSIONS, MDB_CREATE, &vdbi)) != 0 ||
        (rc = mdb_dbi_open(txn, DOM__LEDGER_COMPILES, MDB_CREATE, &cdbi)) != 0)
        goto cleanup;

    stage = "carrying the ledger forward";
    for (size_t i = 0; carry != NULL && i < carry->n_versions && rc == 0; ++i)
        rc = put_raw(txn, vdbi, carry->versions[i].v.hash, 64, carry->versions[i].raw, carry->versions[i].raw_len);
    for (size_t i = 0; carry != NULL && i < carry->n_compiles && rc == 0; ++i) {
        int n = snprintf(key, sizeof(key), "%020" PRIu64, carry->compiles[i].c.seq);
        rc = put_raw(txn, cdbi, key, (size_t)n, carry->compiles[i].raw, carry->compiles[i].raw_len);
    }
    if (rc != 0)
        goto cleanup;

    stage = "checking the ledger";
    texts = calloc(rs->n_jurisdictions + 1, sizeof(char *));
    lens = calloc(rs->n_jurisdictions + 1, sizeof(size_t));
    if (texts == NULL || lens == NULL) {
        rc = ENOMEM;
        goto cleanup;
    }
    for (size_t i = 0; i < rs->n_jurisdictions; ++i)
        if (dom_rule_canonical(rs, &rs->jurisdictions[i], &texts[i], &lens[i]) != 0) {
            rc = ENOMEM;
            goto cleanup;
        }
    if ((rc = check_reuse(txn, vdbi, arena, rs, texts, lens, err, errlen)) != 0)
        goto cleanup;

    stage = "writing the ledger";
    int64_t now = rs->compiled_at;
    dom__record_buf_t live = {0};
    for (size_t i = 0; i < rs->n_jurisdictions && rc == 0; ++i) {
        const dom_jurisdiction_t *j = &rs->jurisdictions[i];
        const char *file = base_name(j->source_file != NULL ? j->source_file : "");
        source_sha(rs, file, sha);
        dom__record_buf_clear(&b);
        dom__record_put_field(&b, "hash", j->hash);
        dom__record_put_field(&b, "jurisdiction", j->name);
        dom__record_put_field(&b, "version", j->version);
        dom__record_put_field(&b, "source_file", file);
        dom__record_put_field(&b, "source_sha256", sha);
        snprintf(num, sizeof(num), "%" PRId64, now);
        dom__record_put_field(&b, "first_compiled", num);
        dom__record_put_field(&b, "source_rev", source_rev);
        dom__record_put_field(&b, "text", texts[i]);
        if (i)
            dom__text_append(&live, ",", 1);
        dom__text_append(&live, j->hash, 64);
        rc = b.failed ? ENOMEM : put_raw(txn, vdbi, j->hash, 64, b.base, b.len);
    }
    /* the next seq follows the last one the table holds (LMDB orders the zero-padded keys) */
    uint64_t seq = 1;
    MDB_val k, v;
    if (rc == 0 && (rc = mdb_cursor_open(txn, cdbi, &cur)) == 0) {
        rc = mdb_cursor_get(cur, &k, &v, MDB_LAST);
        if (rc == 0) {
            char last[24];
            size_t n = k.mv_size < sizeof(last) - 1 ? k.mv_size : sizeof(last) - 1;
            memcpy(last, k.mv_data, n);
            last[n] = '\0';
            seq = strtoull(last, NULL, 10) + 1;
        }
        rc = rc == MDB_NOTFOUND ? 0 : rc;
    }
    if (rc == 0) {
        dom__record_buf_clear(&b);
        snprintf(num, sizeof(num), "%" PRIu64, seq);
        dom__record_put_field(&b, "seq", num);
        snprintf(num, sizeof(num), "%" PRId64, now);
        dom__record_put_field(&b, "compiled_at", num);
        snprintf(num, sizeof(num), "%" PRIu64, generation);
        dom__record_put_field(&b, "generation", num);
        dom__record_put_field(&b, "source_rev", source_rev);
        dom__record_put_field(&b, "ruleset", rs->hash);
        dom__record_put_field(&b, "source_hash", rs->source_hash);
        dom__record_put_field(&b, "sources", rs->sources != NULL ? rs->sources : "");
        dom__record_put_field(&b, "live", live.base != NULL ? live.base : "");
        int n = snprintf(key, sizeof(key), "%020" PRIu64, seq);
        rc = b.failed || live.failed ? ENOMEM : put_raw(txn, cdbi, key, (size_t)n, b.base, b.len);
    }
    dom__text_free(&live);

cleanup:
    if (cur != NULL)
        mdb_cursor_close(cur);
    if (rc > 0)
        snprintf(err, errlen, "%s: %s", stage, rc == ENOMEM ? "out of memory" : mdb_strerror(rc));
    dom__record_buf_free(&b);
    dom__arena_free(arena);
    for (size_t i = 0; texts != NULL && i < rs->n_jurisdictions; ++i)
        free(texts[i]);
    free(texts);
    free(lens);
    return rc;
}
