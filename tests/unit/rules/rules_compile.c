/*
 * Tests src/rules/rules_compile.c: what it writes and what it refuses to overwrite.
 * Every record in the file is the codec's encoding of the set's own struct under the
 * codec's key (src/core/rules_record.c; the codec's own round trip is
 * tests/unit/core/rules_record.c, loading back is tests/unit/core/rules_store.c); the
 * generation counts compiles into the same file; a file that is not LMDB, someone else's
 * LMDB, or another format version is refused and left byte for byte as it was.
 */
#include <lmdb.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include "test.h"
#include "domicile/rules.h"
#include "rules_record_internal.h"

#define FIXTURES DOM_SOURCE_DIR "/tests/fixtures/rules"

static void quiet(void *ctx, const char *file, size_t line, size_t col, int is_warning, const char *message)
{
}

static dom_ruleset_t *parse(const char *dir)
{
    dom_diag_t diag = {quiet, NULL, 0, 0};
    dom_ruleset_t *rs = NULL;
    dom_rules_parse_dir(dir, &diag, &rs);
    return rs;
}

static char tmpdir[] = "/tmp/dom-compile-XXXXXX";

static const char *tmp(const char *name)
{
    static char paths[8][512];
    static int next;
    char *p = paths[next++ % 8];
    snprintf(p, 512, "%s/%s", tmpdir, name);
    return p;
}

/* A read transaction on a rules file, for looking at raw records. */
typedef struct raw {
    MDB_env *env;
    MDB_txn *txn;
} raw_t;

static int raw_open(raw_t *r, const char *path)
{
    r->env = NULL;
    r->txn = NULL;
    if (mdb_env_create(&r->env) != 0 || mdb_env_set_maxdbs(r->env, 16) != 0 ||
        mdb_env_open(r->env, path, MDB_NOSUBDIR | MDB_RDONLY, 0644) != 0 ||
        mdb_txn_begin(r->env, NULL, MDB_RDONLY, &r->txn) != 0) {
        mdb_env_close(r->env);
        return -1;
    }
    return 0;
}

static void raw_close(raw_t *r)
{
    mdb_txn_abort(r->txn);
    mdb_env_close(r->env);
}

/* Number of records of a table, -1 if it is missing. */
static long raw_count(raw_t *r, dom__rules_table_t table)
{
    MDB_dbi dbi;
    MDB_stat st;
    if (mdb_dbi_open(r->txn, dom__rules_table_name(table), 0, &dbi) != 0 || mdb_stat(r->txn, dbi, &st) != 0)
        return -1;
    return (long)st.ms_entries;
}

/* 1 if the record at key holds exactly what b holds. */
static int raw_is(raw_t *r, dom__rules_table_t table, const char *key, const dom__record_buf_t *b)
{
    MDB_dbi dbi;
    MDB_val k = {strlen(key), (void *)key}, v;
    if (mdb_dbi_open(r->txn, dom__rules_table_name(table), 0, &dbi) != 0 || mdb_get(r->txn, dbi, &k, &v) != 0) {
        printf("#   no %s record %s\n", dom__rules_table_name(table), key);
        return 0;
    }
    if (v.mv_size == b->len && memcmp(v.mv_data, b->base != NULL ? b->base : "", b->len) == 0)
        return 1;
    printf("#   %s record %s is \"%.*s\", want \"%s\"\n", dom__rules_table_name(table), key, (int)v.mv_size,
           (const char *)v.mv_data, b->base != NULL ? b->base : "");
    return 0;
}

/* The whole file, to show a refused compile left it as it was. */
static char *slurp(const char *path, size_t *len)
{
    FILE *fp = fopen(path, "rb");
    if (fp == NULL)
        return NULL;
    char *p = NULL;
    size_t n = 0, cap = 0, got;
    do {
        if (n == cap) {
            char *np = realloc(p, (cap = cap ? cap * 2 : 65536));
            if (np == NULL)
                break;
            p = np;
        }
        got = fread(p + n, 1, cap - n, fp);
        n += got;
    } while (got != 0);
    fclose(fp);
    *len = n;
    return p;
}

static int same_file(const char *path, const char *before, size_t before_len)
{
    size_t len = 0;
    char *now = slurp(path, &len);
    int same = now != NULL && len == before_len && memcmp(now, before, len) == 0;
    free(now);
    return same;
}

static void test_records(void)
{
    dom_ruleset_t *rs = parse(FIXTURES "/good");
    const char *db = tmp("good.mdb");
    char err[256], key[DOM__RECORD_KEY_MAX];
    uint64_t gen = 0;
    if (!ok(rs != NULL))
        return;
    is_int(dom_rules_compile_ex(rs, db, &gen, err, sizeof(err)), DOM_OK);
    is_int(gen, 1);

    raw_t r;
    if (!ok(raw_open(&r, db) == 0))
        return;
    /* every table, with as many records as the set has (and no other table but the ledger's two) */
    is_int(raw_count(&r, DOM__TABLE_META), DOM__META_COUNT);
    is_int(raw_count(&r, DOM__TABLE_REGIONS), rs->n_regions);
    is_int(raw_count(&r, DOM__TABLE_CLASSES), rs->n_classes);
    is_int(raw_count(&r, DOM__TABLE_ROUTES), rs->n_routes);
    is_int(raw_count(&r, DOM__TABLE_JURISDICTIONS), rs->n_jurisdictions);
    is_int(raw_count(&r, DOM__TABLE_CLASS_RULES), rs->n_jurisdictions * rs->n_classes);
    is_int(raw_count(&r, DOM__TABLE_CLAIMS), rs->n_claims);
    MDB_dbi main_dbi;
    MDB_stat st;
    ok(mdb_dbi_open(r.txn, NULL, 0, &main_dbi) == 0 && mdb_stat(r.txn, main_dbi, &st) == 0 &&
       st.ms_entries == DOM__TABLE_COUNT + 2);

    /* each record is the codec's encoding of the set's struct, under the codec's key */
    dom__record_buf_t b = {0};
    int same = 1;
    for (int m = 0; m < DOM__META_COUNT; ++m) {
        dom__record_buf_clear(&b);
        dom__meta_encode(&b, (dom__rules_meta_t)m, rs, 1);
        same &= raw_is(&r, DOM__TABLE_META, dom__rules_meta_key((dom__rules_meta_t)m), &b);
    }
#define EACH(TABLE, ARRAY, N)                                                                                          \
    for (size_t i = 0; i < (N); ++i) {                                                                                 \
        dom__record_buf_clear(&b);                                                                                     \
        dom__record_encode(&b, TABLE, rs, &(ARRAY)[i]);                                                                \
        dom__record_key(key, i);                                                                                       \
        same &= raw_is(&r, TABLE, key, &b);                                                                            \
    }
    EACH(DOM__TABLE_REGIONS, rs->regions, rs->n_regions);
    EACH(DOM__TABLE_CLASSES, rs->classes, rs->n_classes);
    EACH(DOM__TABLE_ROUTES, rs->routes, rs->n_routes);
    EACH(DOM__TABLE_JURISDICTIONS, rs->jurisdictions, rs->n_jurisdictions);
    EACH(DOM__TABLE_CLAIMS, rs->claims, rs->n_claims);
#undef EACH
    for (size_t j = 0; j < rs->n_jurisdictions; ++j)
        for (size_t c = 0; c < rs->n_classes; ++c) {
            dom__record_buf_clear(&b);
            dom__record_encode(&b, DOM__TABLE_CLASS_RULES, rs, &rs->jurisdictions[j].classes[c]);
            dom__class_rule_key(key, j, rs->classes[c].name);
            same &= raw_is(&r, DOM__TABLE_CLASS_RULES, key, &b);
        }
    ok(same);

    /* the records are text an operator can read with mdb_dump */
    MDB_dbi dbi;
    MDB_val k = {8, "00000000"}, v;
    if (ok(mdb_dbi_open(r.txn, "jurisdictions", 0, &dbi) == 0 && mdb_get(r.txn, dbi, &k, &v) == 0)) {
        char text[2048];
        snprintf(text, sizeof(text), "%.*s", (int)v.mv_size, (const char *)v.mv_data);
        printf("# jurisdictions/00000000:\n# %s\n", text);
        ok(strncmp(text, "name=", 5) == 0);
        ok(strstr(text, "\nmode=enforce\n") != NULL || strstr(text, "\nmode=report\n") != NULL);
        ok(strstr(text, "\neffective_date=") != NULL);
    }
    raw_close(&r);

    /* every compile into the same file is the next generation */
    is_int(dom_rules_compile_ex(rs, db, &gen, err, sizeof(err)), DOM_OK);
    is_int(gen, 2);
    is_int(dom_rules_compile(rs, db, err, sizeof(err)), DOM_OK);
    is_int(dom_rules_compile_ex(rs, db, &gen, err, sizeof(err)), DOM_OK);
    is_int(gen, 4);
    if (ok(raw_open(&r, db) == 0)) {
        dom__record_buf_clear(&b);
        dom__meta_encode(&b, DOM__META_GENERATION, rs, 4);
        ok(raw_is(&r, DOM__TABLE_META, "generation", &b));
        raw_close(&r);
    }
    dom__record_buf_free(&b);
    dom_ruleset_release(rs);
}

/* A set whose texts need escaping, and a route with an odd method set: the file holds the escaped text. */
static void test_escaping(void)
{
    dom_ruleset_t *rs = parse(FIXTURES "/good");
    if (!ok(rs != NULL))
        return;
    rs->jurisdictions[0].law = "line one\nline two\twith a tab and a \\ backslash";
    rs->routes[0].methods = DOM_METHOD_PUT | DOM_METHOD_OTHER;
    const char *db = tmp("escaped.mdb");
    char err[256];
    is_int(dom_rules_compile(rs, db, err, sizeof(err)), DOM_OK);
    raw_t r;
    if (ok(raw_open(&r, db) == 0)) {
        MDB_dbi dbi;
        MDB_val k = {8, "00000000"}, v;
        char text[4096] = "";
        if (mdb_dbi_open(r.txn, "jurisdictions", 0, &dbi) == 0 && mdb_get(r.txn, dbi, &k, &v) == 0)
            snprintf(text, sizeof(text), "%.*s", (int)v.mv_size, (const char *)v.mv_data);
        ok(strstr(text, "\nlaw=line one\\nline two\\twith a tab and a \\\\ backslash\n") != NULL);
        text[0] = '\0';
        if (mdb_dbi_open(r.txn, "routes", 0, &dbi) == 0 && mdb_get(r.txn, dbi, &k, &v) == 0)
            snprintf(text, sizeof(text), "%.*s", (int)v.mv_size, (const char *)v.mv_data);
        ok(strstr(text, "\nmethods=PUT,OTHER\n") != NULL);
        raw_close(&r);
    }
    dom_ruleset_release(rs);
}

static void test_refused(void)
{
    char err[256];
    dom_ruleset_t *src = parse(FIXTURES "/good");
    if (!ok(src != NULL))
        return;
    size_t len;
    char *before;

    /* not LMDB at all */
    const char *junk = tmp("junk.mdb");
    FILE *fp = fopen(junk, "wb");
    for (int i = 0; i < 3000; ++i)
        fputs("this is not an lmdb file ", fp);
    fclose(fp);
    before = slurp(junk, &len);
    is_int(dom_rules_compile(src, junk, err, sizeof(err)), DOM_ELMDB);
    ok(strstr(err, "not an LMDB file") != NULL);
    ok(same_file(junk, before, len));
    free(before);

    /* LMDB, but someone else's: refused, its data untouched */
    const char *foreign = tmp("foreign.mdb");
    MDB_env *env;
    MDB_txn *txn;
    MDB_dbi dbi;
    mdb_env_create(&env);
    mdb_env_set_maxdbs(env, 4);
    mdb_env_open(env, foreign, MDB_NOSUBDIR, 0644);
    mdb_txn_begin(env, NULL, 0, &txn);
    mdb_dbi_open(txn, "users", MDB_CREATE, &dbi);
    MDB_val k = {5, "alice"}, v = {3, "123"};
    mdb_put(txn, dbi, &k, &v, 0);
    mdb_txn_commit(txn);
    mdb_env_close(env);
    before = slurp(foreign, &len);
    is_int(dom_rules_compile(src, foreign, err, sizeof(err)), DOM_ECORRUPT);
    ok(strstr(err, "not a domicile rules database") != NULL);
    ok(same_file(foreign, before, len));
    free(before);
    raw_t r;
    if (ok(raw_open(&r, foreign) == 0)) {
        is_int(raw_count(&r, DOM__TABLE_META), -1);
        raw_close(&r);
    }

    /* ours, another format version: refused, not downgraded */
    const char *future = tmp("future.mdb");
    is_int(dom_rules_compile(src, future, err, sizeof(err)), DOM_OK);
    mdb_env_create(&env);
    mdb_env_set_maxdbs(env, 16);
    mdb_env_open(env, future, MDB_NOSUBDIR, 0644);
    mdb_txn_begin(env, NULL, 0, &txn);
    mdb_dbi_open(txn, "meta", 0, &dbi);
    MDB_val fk = {6, "format"}, fv = {16, "domicile-rules/9"};
    mdb_put(txn, dbi, &fk, &fv, 0);
    mdb_txn_commit(txn);
    mdb_env_close(env);
    before = slurp(future, &len);
    is_int(dom_rules_compile(src, future, err, sizeof(err)), DOM_ECORRUPT);
    ok(strstr(err, "refusing to overwrite") != NULL);
    ok(same_file(future, before, len));
    free(before);

    /* a new, empty file is ours to fill */
    const char *empty = tmp("empty.mdb");
    fclose(fopen(empty, "wb"));
    uint64_t gen = 0;
    is_int(dom_rules_compile_ex(src, empty, &gen, err, sizeof(err)), DOM_OK);
    is_int(gen, 1);

    /* a directory that does not exist: an I/O error with the path */
    is_int(dom_rules_compile(src, tmp("no/such/dir/rules.mdb"), err, sizeof(err)), DOM_EIO);
    ok(strstr(err, "no/such/dir") != NULL);
    dom_ruleset_release(src);
}

int main(void)
{
    if (mkdtemp(tmpdir) == NULL)
        return 1;
    subtest("records and generations", test_records);
    subtest("escaped texts", test_escaping);
    subtest("files it refuses to overwrite", test_refused);
    char cmd[600];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpdir);
    if (system(cmd) != 0)
        printf("# could not remove %s\n", tmpdir);
    return done_testing();
}
