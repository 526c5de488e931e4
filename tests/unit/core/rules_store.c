/*
 * Tests src/core/rules_store.c, with sets compiled by src/rules/rules_compile.c (what the
 * compiler writes and refuses is tests/unit/rules/rules_compile.c; the record codec is
 * tests/unit/core/rules_record.c): a compiled set loads back as it was parsed; foreign,
 * damaged and missing files are refused with a message; and the live-compile promise:
 * while another process compiles A, B, A, B ... into the same file, readers only ever
 * see a whole A or a whole B, see both, and a failed compile leaves the last good
 * generation in place.
 */
#include <lmdb.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include "test.h"
#include "domicile/rules.h"

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

static char tmpdir[] = "/tmp/dom-store-XXXXXX";

static const char *tmp(const char *name)
{
    static char paths[8][512];
    static int next;
    char *p = paths[next++ % 8];
    snprintf(p, 512, "%s/%s", tmpdir, name);
    return p;
}

static void test_roundtrip(void)
{
    dom_ruleset_t *src = parse(FIXTURES "/good");
    const char *db = tmp("good.mdb");
    char err[256];
    uint64_t gen = 0;
    if (!ok(src != NULL))
        return;
    is_int(dom_rules_compile_ex(src, db, &gen, err, sizeof(err)), DOM_OK);
    dom_rules_store_t *store = NULL;
    is_int(dom_rules_store_open(db, &store, err, sizeof(err)), DOM_OK);
    if (!ok(store != NULL))
        return;
    dom_ruleset_t *rs = dom_rules_store_current(store);
    is_int(rs->generation, 1);
    is_str(rs->source_hash, src->source_hash);
    is_int(rs->compiled_at, src->compiled_at);
    is_int(rs->n_regions, src->n_regions);
    is_int(rs->n_classes, src->n_classes);
    is_int(rs->n_routes, src->n_routes);
    is_int(rs->n_jurisdictions, src->n_jurisdictions);
    is_int(rs->n_claims, src->n_claims);
    is_str(rs->classes[rs->default_class].name, src->classes[src->default_class].name);
    /* every jurisdiction, every class rule, every claim, as parsed */
    int same = 1;
    for (size_t i = 0; i < rs->n_jurisdictions && i < src->n_jurisdictions; ++i) {
        const dom_jurisdiction_t *a = &src->jurisdictions[i], *b = &rs->jurisdictions[i];
        same &= strcmp(a->name, b->name) == 0 && strcmp(a->version, b->version) == 0 && a->effective == b->effective &&
                a->mode == b->mode && a->is_default == b->is_default && a->on_unavailable == b->on_unavailable &&
                strcmp(a->policy_url, b->policy_url) == 0 && strcmp(a->law, b->law) == 0 &&
                strcmp(a->applies_to, b->applies_to) == 0 && strcmp(a->source_file, b->source_file) == 0;
        for (size_t c = 0; c < rs->n_classes; ++c) {
            const dom_class_rule_t *x = &a->classes[c], *y = &b->classes[c];
            same &= x->deny == y->deny && x->n_write == y->n_write && x->n_read == y->n_read &&
                    x->consent_required == y->consent_required && x->anonymize == y->anonymize &&
                    memcmp(x->write_regions, y->write_regions, x->n_write * 2) == 0 &&
                    memcmp(x->read_regions, y->read_regions, x->n_read * 2) == 0 &&
                    (!x->deny || strcmp(x->deny_reason, y->deny_reason) == 0);
        }
    }
    for (size_t i = 0; i < rs->n_claims && i < src->n_claims; ++i)
        same &= rs->claims[i].level == src->claims[i].level && strcmp(rs->claims[i].key, src->claims[i].key) == 0 &&
                rs->claims[i].jurisdiction == src->claims[i].jurisdiction;
    for (size_t i = 0; i < rs->n_routes && i < src->n_routes; ++i)
        same &= strcmp(rs->routes[i].prefix, src->routes[i].prefix) == 0 &&
                rs->routes[i].methods == src->routes[i].methods &&
                rs->routes[i].class_index == src->routes[i].class_index;
    ok(same);
    const dom_jurisdiction_t *e, *r;
    dom_ruleset_resolve(rs, DOM_LEVEL_SUBDIVISION, "US-CA", 2000000000, &e, &r);
    is_str(e ? e->name : NULL, "US-CA-CPRA");

    /* unchanged: the same snapshot; after a compile: the new one, old stays valid */
    dom_ruleset_t *again = dom_rules_store_current(store);
    ok(again == rs);
    dom_ruleset_release(again);
    is_int(dom_rules_compile_ex(src, db, &gen, err, sizeof(err)), DOM_OK);
    dom_ruleset_t *next = dom_rules_store_current(store);
    ok(next != rs);
    is_int(next->generation, 2);
    is_int(rs->generation, 1);
    uint64_t reloads, failures;
    dom_rules_store_stats(store, &reloads, &failures);
    is_int(reloads, 1);
    is_int(failures, 0);

    /* a bad record committed behind the store's back: the reload fails, the old snapshot stays */
    /* (in a child: LMDB forbids opening the same file twice in one process) */
    pid_t pid = fork();
    if (pid == 0) {
        MDB_env *env;
        MDB_txn *txn;
        MDB_dbi dbi;
        mdb_env_create(&env);
        mdb_env_set_maxdbs(env, 16);
        if (mdb_env_open(env, db, MDB_NOSUBDIR, 0644) != 0 || mdb_txn_begin(env, NULL, 0, &txn) != 0 ||
            mdb_dbi_open(txn, "claims", 0, &dbi) != 0)
            _exit(1);
        MDB_val k = {8, "00000000"}, v = {0, "level=country\nkey=DE\njurisdiction=999\n"};
        v.mv_size = strlen(v.mv_data);
        if (mdb_put(txn, dbi, &k, &v, 0) != 0 || mdb_txn_commit(txn) != 0)
            _exit(1);
        mdb_env_close(env);
        _exit(0);
    }
    int status = -1;
    waitpid(pid, &status, 0);
    ok(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    dom_ruleset_t *after = dom_rules_store_current(store);
    ok(after == next);
    dom_rules_store_stats(store, &reloads, &failures);
    is_int(failures, 1);
    dom_ruleset_release(dom_rules_store_current(store)); /* not retried per request */
    dom_rules_store_stats(store, &reloads, &failures);
    is_int(failures, 1);
    dom_ruleset_release(after);
    dom_ruleset_t *kept = next;
    dom_rules_store_close(store); /* snapshots outlive the store */
    is_int(kept->generation, 2);
    dom_ruleset_release(kept);
    dom_ruleset_release(rs);

    /* the damaged database is refused at open, with a message */
    store = (dom_rules_store_t *)1;
    is_int(dom_rules_store_open(db, &store, err, sizeof(err)), DOM_ECORRUPT);
    ok(store == NULL);
    ok(strstr(err, "claims") != NULL);
    /* and a compile repairs it */
    is_int(dom_rules_compile_ex(src, db, &gen, err, sizeof(err)), DOM_OK);
    is_int(dom_rules_store_open(db, &store, err, sizeof(err)), DOM_OK);
    if (ok(store != NULL)) {
        dom_ruleset_t *repaired = dom_rules_store_current(store);
        is_int(repaired->generation, gen);
        dom_ruleset_release(repaired);
    }
    dom_rules_store_close(store);
    dom_ruleset_release(src);
    dom_rules_store_close(NULL);
}

static void test_refused(void)
{
    char err[256];
    dom_rules_store_t *store = NULL;
    is_int(dom_rules_store_open(tmp("missing.mdb"), &store, err, sizeof(err)), DOM_ELMDB);
    ok(strstr(err, "cannot open") != NULL);

    /* not LMDB at all */
    const char *junk = tmp("junk.mdb");
    FILE *fp = fopen(junk, "wb");
    for (int i = 0; i < 3000; ++i)
        fputs("this is not an lmdb file ", fp);
    fclose(fp);
    is_int(dom_rules_store_open(junk, &store, err, sizeof(err)), DOM_ECORRUPT);
    ok(strstr(err, "not a domicile rules database") != NULL);

    /* empty, and too short to be LMDB */
    const char *empty = tmp("empty.mdb");
    fclose(fopen(empty, "wb"));
    is_int(dom_rules_store_open(empty, &store, err, sizeof(err)), DOM_ECORRUPT);
    ok(strstr(err, "empty file") != NULL);

    /* LMDB, but someone else's */
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
    is_int(dom_rules_store_open(foreign, &store, err, sizeof(err)), DOM_ECORRUPT);
    ok(strstr(err, "not a domicile rules database") != NULL);

    /* our format, wrong version */
    dom_ruleset_t *src = parse(FIXTURES "/good");
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
    is_int(dom_rules_store_open(future, &store, err, sizeof(err)), DOM_ECORRUPT);
    ok(strstr(err, "format") != NULL);
    dom_ruleset_release(src);
}

/* ---- live compile ---- */

typedef struct reader {
    dom_rules_store_t *store;
    atomic_int *stop;
    long snapshots, seen_a, seen_b, mixed, backwards;
    uint64_t first_gen, last_gen;
} reader_t;

/* 'a' or 'b' if the whole snapshot is one set, 0 if it mixes them. */
static int snapshot_letter(const dom_ruleset_t *rs)
{
    if (rs->n_jurisdictions != 5 || rs->n_regions != 3)
        return 0;
    char up = rs->jurisdictions[0].version[0];
    if (up != 'A' && up != 'B')
        return 0;
    char low = (char)(up - 'A' + 'a');
    char suffix[3] = {'-', low, '\0'};
    for (size_t i = 0; i < rs->n_regions; ++i) {
        const char *n = rs->regions[i].name;
        if (strcmp(n, "common") != 0 && strcmp(n + strlen(n) - 2, suffix) != 0)
            return 0;
    }
    for (size_t i = 0; i < rs->n_jurisdictions; ++i) {
        const dom_jurisdiction_t *j = &rs->jurisdictions[i];
        if (j->version[0] != up || strlen(j->policy_url) < 21 || j->policy_url[20] != low)
            return 0;
        for (size_t c = 0; c < rs->n_classes; ++c)
            for (size_t w = 0; w < j->classes[c].n_write; ++w) {
                const char *n = rs->regions[j->classes[c].write_regions[w]].name;
                if (strcmp(n, "common") != 0 && strcmp(n + strlen(n) - 2, suffix) != 0)
                    return 0;
            }
    }
    /* resolution agrees with the records */
    const dom_jurisdiction_t *e, *r;
    dom_ruleset_resolve(rs, DOM_LEVEL_COUNTRY, "JP", 2000000000, &e, &r);
    if (e == NULL || strcmp(e->name, "J4") != 0 || e->version[0] != up)
        return 0;
    return low;
}

static void *reader_main(void *arg)
{
    reader_t *rd = arg;
    struct timespec start, now;
    clock_gettime(CLOCK_MONOTONIC, &start);
    while (!atomic_load(rd->stop)) {
        dom_ruleset_t *rs = dom_rules_store_current(rd->store);
        int letter = snapshot_letter(rs);
        ++rd->snapshots;
        if (letter == 'a')
            ++rd->seen_a;
        else if (letter == 'b')
            ++rd->seen_b;
        else
            ++rd->mixed;
        if (rs->generation < rd->last_gen)
            ++rd->backwards;
        if (rd->first_gen == 0)
            rd->first_gen = rs->generation;
        rd->last_gen = rs->generation;
        dom_ruleset_release(rs);
        clock_gettime(CLOCK_MONOTONIC, &now);
        if (now.tv_sec - start.tv_sec > 20) /* a bound, should the writer hang */
            break;
    }
    return NULL;
}

static void test_live(void)
{
    const char *db = tmp("live.mdb");
    char err[256];
    dom_ruleset_t *a = parse(FIXTURES "/live-a"), *b = parse(FIXTURES "/live-b");
    if (!ok(a != NULL && b != NULL))
        return;
    is_int(dom_rules_compile(a, db, err, sizeof(err)), DOM_OK);
    dom_rules_store_t *store;
    if (!ok(dom_rules_store_open(db, &store, err, sizeof(err)) == DOM_OK))
        return;

    int go[2];
    if (!ok(pipe(go) == 0))
        return;
    pid_t pid = fork();
    if (pid == 0) {
        /* the writer: 50 compiles alternating B and A, as fast as it can */
        char c;
        close(go[1]);
        if (read(go[0], &c, 1) != 1)
            _exit(3);
        for (int i = 0; i < 50; ++i) {
            struct timespec pause = {0, 2 * 1000 * 1000};
            if (dom_rules_compile(i % 2 == 0 ? b : a, db, err, sizeof(err)) != 0)
                _exit(1);
            nanosleep(&pause, NULL); /* let readers catch several generations, not only the last */
        }
        /* a broken set is refused before the database is touched */
        dom_ruleset_t *broken = parse(FIXTURES "/broken/syntax-error");
        _exit(broken == NULL ? 0 : 2);
    }
    close(go[0]);
    atomic_int stop = 0;
    reader_t rd[2];
    pthread_t th[2];
    for (int i = 0; i < 2; ++i) {
        memset(&rd[i], 0, sizeof(rd[i]));
        rd[i].store = store;
        rd[i].stop = &stop;
        pthread_create(&th[i], NULL, reader_main, &rd[i]);
    }
    /* readers are running (they start with the A snapshot the store holds); release the writer */
    ok(write(go[1], "x", 1) == 1);
    close(go[1]);
    int status = 0;
    waitpid(pid, &status, 0);
    /* one more round for the readers to pick up the last generation */
    for (int spin = 0; spin < 1000; ++spin) {
        dom_ruleset_t *rs = dom_rules_store_current(store);
        int done = rs->generation == 51;
        dom_ruleset_release(rs);
        if (done)
            break;
    }
    atomic_store(&stop, 1);
    for (int i = 0; i < 2; ++i)
        pthread_join(th[i], NULL);
    ok(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    for (int i = 0; i < 2; ++i) {
        printf("# reader %d: %ld snapshots, %ld A, %ld B, %ld mixed, generations %llu..%llu\n", i, rd[i].snapshots,
               rd[i].seen_a, rd[i].seen_b, rd[i].mixed, (unsigned long long)rd[i].first_gen,
               (unsigned long long)rd[i].last_gen);
        is_int(rd[i].mixed, 0);
        is_int(rd[i].backwards, 0);
        ok(rd[i].seen_a > 0 && rd[i].seen_b > 0);
    }
    dom_ruleset_t *rs = dom_rules_store_current(store);
    is_int(rs->generation, 51);
    is_int(snapshot_letter(rs), 'a'); /* B, A, B, ... the 50th compile was A */
    dom_ruleset_release(rs);
    uint64_t reloads, failures;
    dom_rules_store_stats(store, &reloads, &failures);
    is_int(failures, 0);
    printf("# %llu reloads\n", (unsigned long long)reloads);
    ok(reloads >= 2 && reloads <= 50);
    dom_rules_store_close(store);
    dom_ruleset_release(a);
    dom_ruleset_release(b);
}

int main(void)
{
    if (mkdtemp(tmpdir) == NULL)
        return 1;
    subtest("compile and load back", test_roundtrip);
    subtest("foreign, damaged and missing files", test_refused);
    subtest("live compile", test_live);
    char cmd[600];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpdir);
    if (system(cmd) != 0)
        printf("# could not remove %s\n", tmpdir);
    return done_testing();
}
