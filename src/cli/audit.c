/*
 * `domicile audit verify FILE... [--rules LIVE.mdb] [--keys KEYFILE] [--json]`: proves an audit log
 * (docs/audit.md). It reads the files in the order given (oldest first) as one chain and checks
 * that every line links to the one before it (seq one more, prev the hash of that line), that
 * every checkpoint's signature holds, and, with --rules, that every decision's rule_hash is in the
 * ledger of the rules database and that every routed write went to a region that version allowed
 * for its class. Each break is named by file:line and what it is (edited, deleted, reordered,
 * unreadable, unknown rule_hash, region not allowed); a summary follows.
 *
 * Exit status: 0 the log verifies, 1 any break, 2 usage error or unreadable input.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <openssl/crypto.h>
#include "cli/cli.h"
#include "domicile/auditlog.h"
#include "domicile/ledger.h"
#include "domicile/pin.h"
#include "domicile/rules_record.h"
#include "util/json.h"

static const char verify_usage[] =
    "usage: domicile audit verify FILE... [--rules LIVE.mdb] [--keys KEYFILE] [--json]\n"
    "\n"
    "Checks audit log files, oldest first (audit.log.2 audit.log.1 audit.log), as one hash chain:\n"
    "every line must carry the hash of the line before it and the next sequence number; a line\n"
    "edited, deleted or moved is named by file:line. Then, per line:\n"
    "\n"
    "  --rules FILE   the compiled rules database: every rule_hash must be in its ledger, and every\n"
    "                 routed write must have gone to a region that rule version allowed for its class\n"
    "  --keys FILE    the key file the gateway signs checkpoints with (audit.key_file or pins.keys):\n"
    "                 every checkpoint's signature is checked\n"
    "  --json         one JSON object instead of text\n"
    "\n"
    "Exit status: 0 the log verifies, 1 a break (each named), 2 usage error or unreadable input.\n";

static const char audit_usage[] = "usage: domicile audit verify FILE... [--rules FILE] [--keys FILE] [--json]\n"
                                  "Run `domicile audit verify --help` for the options.\n";

/* What the chain check keeps of each line: 90 bytes, whatever the line's length. */
struct entry {
    uint64_t seq;
    unsigned char hash[32], prev[32];
    uint32_t file, line;
    uint8_t parsed, chained, restart; /* restart: an open line that found nothing to go on from */
};

struct problem {
    uint32_t file, line;
    const char *kind;
    char *message;
};

struct count {
    char *key;
    char jurisdiction[DOM_NAME_MAX + 1], version[DOM_NAME_MAX + 1], hash[65];
    uint64_t n, routed, refused;
};

struct verifier {
    char **files;
    size_t n_files;
    dom_ledger_t *ledger;
    dom_auditlog_key_t *keys;
    size_t n_keys;
    struct entry *entries;
    size_t n_entries, cap_entries;
    struct problem *problems;
    size_t n_problems, cap_problems;
    struct count *versions, *reasons;
    size_t n_versions, n_reasons;
    uint64_t requests, opens, checkpoints, checkpoints_ok, after_checkpoint, unchained_before, gaps;
    uint64_t dropped, dropped_run, mismatches, no_hash;
    uint64_t first_seq, last_seq;
    int oom;
};

static void problem(struct verifier *v, uint32_t file, uint32_t line, const char *kind, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));

static void problem(struct verifier *v, uint32_t file, uint32_t line, const char *kind, const char *fmt, ...)
{
    if (v->n_problems == v->cap_problems) {
        size_t cap = v->cap_problems ? v->cap_problems * 2 : 16;
        struct problem *p = realloc(v->problems, cap * sizeof(*p));
        if (p == NULL) {
            v->oom = 1;
            return;
        }
        v->problems = p;
        v->cap_problems = cap;
    }
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    struct problem *p = &v->problems[v->n_problems];
    if ((p->message = strdup(msg)) == NULL) {
        v->oom = 1;
        return;
    }
    p->file = file;
    p->line = line;
    p->kind = kind;
    ++v->n_problems;
}

static struct count *tally(struct count **list, size_t *n, const char *key, int *oom)
{
    for (size_t i = 0; i < *n; ++i)
        if (strcmp((*list)[i].key, key) == 0)
            return &(*list)[i];
    struct count *l = realloc(*list, (*n + 1) * sizeof(*l));
    if (l == NULL) {
        *oom = 1;
        return NULL;
    }
    *list = l;
    struct count *c = &l[*n];
    memset(c, 0, sizeof(*c));
    if ((c->key = strdup(key)) == NULL) {
        *oom = 1;
        return NULL;
    }
    ++*n;
    return c;
}

static void unhex(const char *hex, unsigned char out[32])
{
    for (int i = 0; i < 32; ++i)
        out[i] = (unsigned char)(dom__hex_digit(hex[2 * i]) << 4 | dom__hex_digit(hex[2 * i + 1]));
}

/* ---- pass 1: each line on its own (signature, rule, region) and the summary ---- */

static void check_rules(struct verifier *v, uint32_t f, uint32_t ln, const dom_auditlog_line_t *l)
{
    if (l->jurisdiction[0] == '\0')
        return; /* refused before any rule was looked at (a bad request, no rules loaded) */
    if (l->rule_hash[0] == '\0') {
        ++v->no_hash;
        problem(v, f, ln, "no_rule_hash", "no rule_hash: %s %s cannot be resolved to its rule text", l->jurisdiction,
                l->rule_version);
        return;
    }
    int err = 0;
    const dom_ledger_version_t *rv = dom_ledger_find(v->ledger, l->rule_hash, &err);
    if (rv == NULL) {
        ++v->mismatches;
        problem(v, f, ln, "unknown_rule_hash", "unknown rule_hash %.12s: not in the ledger of the rules database",
                l->rule_hash);
        return;
    }
    if (strcmp(rv->jurisdiction, l->jurisdiction) != 0 || strcmp(rv->version, l->rule_version) != 0) {
        ++v->mismatches;
        problem(v, f, ln, "rule_mismatch", "rule_hash %.12s is %s %s, the line says %s %s", l->rule_hash,
                rv->jurisdiction, rv->version, l->jurisdiction, l->rule_version);
        return;
    }
    if (strcmp(l->action, "route") != 0 || strcmp(l->access, "write") != 0 || l->region[0] == '\0')
        return;
    int allowed = dom_ledger_allowed(rv, l->class_name, DOM_ACCESS_WRITE, l->region);
    if (allowed == 1)
        return;
    ++v->mismatches;
    const dom_ledger_class_t *c = dom_ledger_class(rv, l->class_name);
    char list[512] = "";
    for (size_t i = 0; c != NULL && i < c->n_write; ++i)
        snprintf(list + strlen(list), sizeof(list) - strlen(list), "%s%s", i ? ", " : "", c->write[i]);
    if (c == NULL)
        problem(v, f, ln, "region_not_allowed", "%s %s has no class \"%s\": the write to %s was not allowed",
                rv->jurisdiction, rv->version, l->class_name, l->region);
    else
        problem(v, f, ln, "region_not_allowed", "region not allowed: %s %s writes %s to %s, not %s", rv->jurisdiction,
                rv->version, l->class_name, c->n_write ? list : "nowhere", l->region);
}

static void look_at(struct verifier *v, uint32_t f, uint32_t ln, const char *text, const dom_auditlog_line_t *l)
{
    switch (l->kind) {
    case DOM_AUDITLOG_OPEN:
        ++v->opens;
        v->dropped += v->dropped_run; /* a new writer process counts its drops from 0 */
        v->dropped_run = 0;
        break;
    case DOM_AUDITLOG_CHECKPOINT:
        ++v->checkpoints;
        v->after_checkpoint = 0;
        v->dropped_run = l->dropped;
        if (v->n_keys > 0) {
            int ret = dom_auditlog_check_mac(text, l, v->keys, v->n_keys);
            if (ret == DOM_OK)
                ++v->checkpoints_ok;
            else if (ret == DOM_ENOTFOUND)
                problem(v, f, ln, "unknown_key", "checkpoint signed with key \"%s\", which --keys does not hold",
                        l->kid);
            else
                problem(v, f, ln, "edited", "edited: the checkpoint's signature does not match its contents");
        }
        return;
    case DOM_AUDITLOG_REQUEST: {
        ++v->requests;
        char key[256];
        snprintf(key, sizeof(key), "%s %s %s", l->jurisdiction[0] ? l->jurisdiction : "-",
                 l->rule_version[0] ? l->rule_version : "-", l->rule_hash);
        struct count *c = tally(&v->versions, &v->n_versions, key, &v->oom);
        if (c != NULL) {
            snprintf(c->jurisdiction, sizeof(c->jurisdiction), "%s", l->jurisdiction);
            snprintf(c->version, sizeof(c->version), "%s", l->rule_version);
            snprintf(c->hash, sizeof(c->hash), "%s", l->rule_hash);
            ++c->n;
            c->routed += strcmp(l->action, "route") == 0;
            c->refused += strcmp(l->action, "reject") == 0;
        }
        if (strcmp(l->action, "reject") == 0) {
            struct count *r = tally(&v->reasons, &v->n_reasons, l->reason[0] ? l->reason : "-", &v->oom);
            if (r != NULL)
                ++r->n;
        }
        if (v->ledger != NULL)
            check_rules(v, f, ln, l);
        break;
    }
    default:
        break;
    }
    ++v->after_checkpoint;
}

static int add_entry(struct verifier *v, const struct entry *e)
{
    if (v->n_entries == v->cap_entries) {
        size_t cap = v->cap_entries ? v->cap_entries * 2 : 1024;
        struct entry *n = realloc(v->entries, cap * sizeof(*n));
        if (n == NULL)
            return -1;
        v->entries = n;
        v->cap_entries = cap;
    }
    v->entries[v->n_entries++] = *e;
    return 0;
}

static int read_file(struct verifier *v, uint32_t f)
{
    FILE *fp = fopen(v->files[f], "r");
    if (fp == NULL) {
        fprintf(stderr, "domicile audit verify: %s: %s\n", v->files[f], strerror(errno));
        return -1;
    }
    char *text = NULL;
    size_t cap = 0;
    ssize_t n;
    uint32_t ln = 0;
    while ((n = getline(&text, &cap, fp)) > 0) {
        ++ln;
        dom_auditlog_line_t l;
        struct entry e = {.file = f, .line = ln};
        if (text[n - 1] == '\n')
            text[--n] = '\0';
        if (memchr(text, '\0', (size_t)n) == NULL && dom_auditlog_parse(text, (size_t)n, &l) == DOM_OK) {
            e.parsed = 1;
            e.chained = (uint8_t)l.chained;
            e.seq = l.seq;
            unhex(l.hash, e.hash);
            if (l.chained)
                unhex(l.prev, e.prev);
            e.restart = l.kind == DOM_AUDITLOG_OPEN && strcmp(l.chain_from, "none") == 0;
            look_at(v, f, ln, text, &l);
        }
        if (add_entry(v, &e) != 0) {
            v->oom = 1;
            break;
        }
    }
    free(text);
    int bad = ferror(fp);
    fclose(fp);
    if (bad)
        fprintf(stderr, "domicile audit verify: %s: read error\n", v->files[f]);
    return bad ? -1 : 0;
}

/* ---- pass 2: the chain ---- */

static int by_hash(const void *a, const void *b)
{
    const struct entry *x = *(const struct entry *const *)a, *y = *(const struct entry *const *)b;
    return memcmp(x->hash, y->hash, 32);
}

static const struct entry *find_hash(const struct entry **index, size_t n, const unsigned char hash[32])
{
    size_t lo = 0, hi = n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = memcmp(index[mid]->hash, hash, 32);
        if (c == 0)
            return index[mid];
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return NULL;
}

static const char *where(const struct verifier *v, const struct entry *e, char *buf, size_t len)
{
    snprintf(buf, len, "%s:%u", v->files[e->file], e->line);
    return buf;
}

static void check_chain(struct verifier *v)
{
    const struct entry **index = malloc((v->n_entries ? v->n_entries : 1) * sizeof(*index));
    size_t n_index = 0;
    if (index == NULL) {
        v->oom = 1;
        return;
    }
    for (size_t i = 0; i < v->n_entries; ++i)
        if (v->entries[i].parsed)
            index[n_index++] = &v->entries[i];
    qsort(index, n_index, sizeof(*index), by_hash);
    static const unsigned char zeros[32];
    const struct entry *last = NULL;
    for (size_t i = 0; i < v->n_entries; ++i) {
        const struct entry *e = &v->entries[i];
        char at[512];
        if (!e->parsed) {
            problem(v, e->file, e->line, "unreadable", "unreadable: not a JSON audit line (edited, or a torn write)");
            continue;
        }
        if (!e->chained) {
            if (last == NULL)
                ++v->unchained_before; /* written before the chain began (an older gateway) */
            else
                problem(v, e->file, e->line, "edited", "edited or inserted: the line has no seq and prev");
            continue;
        }
        if (last == NULL) {
            v->first_seq = e->seq;
            last = e;
            continue;
        }
        if (memcmp(e->prev, last->hash, 32) == 0 && e->seq == last->seq + 1) {
            last = e;
            continue;
        }
        const struct entry *pred = find_hash(index, n_index, e->prev);
        const struct entry *next = i + 1 < v->n_entries && v->entries[i + 1].parsed ? &v->entries[i + 1] : NULL;
        if (e->restart && memcmp(e->prev, zeros, 32) == 0) {
            problem(v, e->file, e->line, "restarted",
                    "chain restarted: the writer found neither the previous file's end nor its state file "
                    "(everything before seq %llu is unlinked)",
                    (unsigned long long)last->seq);
        } else if (pred != NULL && pred != last) {
            /* its predecessor is elsewhere: name the line only where the order is inverted */
            if (e->seq < last->seq || (next != NULL && next->chained && next->seq < e->seq))
                problem(v, e->file, e->line, "reordered", "reordered: seq %llu follows %s (seq %llu) in the chain",
                        (unsigned long long)e->seq, where(v, pred, at, sizeof(at)), (unsigned long long)pred->seq);
        } else if (pred == last) {
            problem(v, e->file, e->line, "edited", "edited: seq is %llu, the line before it is seq %llu",
                    (unsigned long long)e->seq, (unsigned long long)last->seq);
        } else if (e->seq == last->seq + 1) {
            problem(v, last->file, last->line, "edited",
                    "edited: its hash does not match the prev that %s (seq %llu) recorded", where(v, e, at, sizeof(at)),
                    (unsigned long long)e->seq);
        } else if (e->seq > last->seq + 1) {
            uint64_t missing = e->seq - last->seq - 1;
            v->gaps += missing;
            if (missing == 1)
                problem(v, e->file, e->line, "deleted", "deleted: the line before it (seq %llu) is missing",
                        (unsigned long long)(last->seq + 1));
            else
                problem(v, e->file, e->line, "deleted", "deleted: %llu lines before it (seq %llu-%llu) are missing",
                        (unsigned long long)missing, (unsigned long long)(last->seq + 1),
                        (unsigned long long)(e->seq - 1));
        } else {
            problem(v, e->file, e->line, "reordered", "reordered or duplicated: seq %llu after seq %llu",
                    (unsigned long long)e->seq, (unsigned long long)last->seq);
        }
        last = e;
    }
    if (last != NULL)
        v->last_seq = last->seq;
    free(index);
}

/* ---- the report ---- */

static int by_position(const void *a, const void *b)
{
    const struct problem *x = a, *y = b;
    if (x->file != y->file)
        return x->file < y->file ? -1 : 1;
    return x->line < y->line ? -1 : x->line > y->line;
}

static int by_count(const void *a, const void *b)
{
    const struct count *x = a, *y = b;
    return x->n != y->n ? (x->n > y->n ? -1 : 1) : strcmp(x->key, y->key);
}

static void print_text(struct verifier *v)
{
    for (size_t i = 0; i < v->n_problems; ++i)
        printf("%s:%u: %s\n", v->files[v->problems[i].file], v->problems[i].line, v->problems[i].message);
    if (v->n_problems > 0)
        putchar('\n');
    printf("files: %zu, lines: %zu (seq %llu-%llu), requests: %llu, writer starts and reopens: %llu\n", v->n_files,
           v->n_entries, (unsigned long long)v->first_seq, (unsigned long long)v->last_seq,
           (unsigned long long)v->requests, (unsigned long long)v->opens);
    if (v->unchained_before)
        printf("note: %llu lines before the chain began (written without seq and prev)\n",
               (unsigned long long)v->unchained_before);
    if (v->n_keys > 0)
        printf("checkpoints: %llu, signatures verified: %llu; lines after the last one: %llu\n",
               (unsigned long long)v->checkpoints, (unsigned long long)v->checkpoints_ok,
               (unsigned long long)v->after_checkpoint);
    else
        printf("checkpoints: %llu, signatures not checked (no --keys)\n", (unsigned long long)v->checkpoints);
    printf("requests per jurisdiction version:\n");
    for (size_t i = 0; i < v->n_versions; ++i) {
        const struct count *c = &v->versions[i];
        printf("  %-12s %-10s %-12.12s %8llu  (routed %llu, refused %llu)\n",
               c->jurisdiction[0] ? c->jurisdiction : "-", c->version[0] ? c->version : "-", c->hash[0] ? c->hash : "-",
               (unsigned long long)c->n, (unsigned long long)c->routed, (unsigned long long)c->refused);
    }
    printf("refusals per reason:%s\n", v->n_reasons ? "" : " none");
    for (size_t i = 0; i < v->n_reasons; ++i)
        printf("  %-28s %8llu\n", v->reasons[i].key, (unsigned long long)v->reasons[i].n);
    printf("gaps: %llu lines missing from the chain; lines the gateway dropped (its checkpoints): %llu\n",
           (unsigned long long)v->gaps, (unsigned long long)(v->dropped + v->dropped_run));
    if (v->ledger != NULL)
        printf("mismatches: %llu (rule_hash unknown or region not allowed); lines without rule_hash: %llu\n",
               (unsigned long long)v->mismatches, (unsigned long long)v->no_hash);
    else
        printf("mismatches: not checked (no --rules)\n");
    if (v->n_problems == 0)
        printf("verified: the chain is whole%s%s\n", v->n_keys ? ", every checkpoint's signature holds" : "",
               v->ledger ? ", every decision resolves to its rule text and every write went where it allowed" : "");
    else
        printf("FAILED: %zu problem%s\n", v->n_problems, v->n_problems == 1 ? "" : "s");
}

static void print_json(struct verifier *v)
{
    dom__json_t j = dom__json_file(stdout);
    dom__json_lit(&j, "{\"ok\":");
    dom__json_bool(&j, v->n_problems == 0);
    dom__json_lit(&j, ",\"files\":[");
    for (size_t i = 0; i < v->n_files; ++i) {
        if (i)
            dom__json_lit(&j, ",");
        dom__json_str(&j, v->files[i]);
    }
    dom__json_rawf(&j, "],\"lines\":%zu,\"first_seq\":%llu,\"last_seq\":%llu,\"requests\":%llu,\"opens\":%llu",
                   v->n_entries, (unsigned long long)v->first_seq, (unsigned long long)v->last_seq,
                   (unsigned long long)v->requests, (unsigned long long)v->opens);
    dom__json_rawf(&j, ",\"unchained_before\":%llu,\"checkpoints\":{\"count\":%llu,\"verified\":",
                   (unsigned long long)v->unchained_before, (unsigned long long)v->checkpoints);
    if (v->n_keys > 0)
        dom__json_u64(&j, v->checkpoints_ok);
    else
        dom__json_null(&j);
    dom__json_rawf(&j, ",\"lines_after_last\":%llu},\"versions\":[", (unsigned long long)v->after_checkpoint);
    for (size_t i = 0; i < v->n_versions; ++i) {
        const struct count *c = &v->versions[i];
        dom__json_lit(&j, i ? ",{\"jurisdiction\":" : "{\"jurisdiction\":");
        dom__json_str(&j, c->jurisdiction[0] ? c->jurisdiction : NULL);
        dom__json_lit(&j, ",\"rule_version\":");
        dom__json_str(&j, c->version[0] ? c->version : NULL);
        dom__json_lit(&j, ",\"rule_hash\":");
        dom__json_str(&j, c->hash[0] ? c->hash : NULL);
        dom__json_rawf(&j, ",\"requests\":%llu,\"routed\":%llu,\"refused\":%llu}", (unsigned long long)c->n,
                       (unsigned long long)c->routed, (unsigned long long)c->refused);
    }
    dom__json_lit(&j, "],\"refusals\":{");
    for (size_t i = 0; i < v->n_reasons; ++i) {
        if (i)
            dom__json_lit(&j, ",");
        dom__json_str(&j, v->reasons[i].key);
        dom__json_rawf(&j, ":%llu", (unsigned long long)v->reasons[i].n);
    }
    dom__json_rawf(&j, "},\"gaps\":%llu,\"dropped\":%llu,\"mismatches\":", (unsigned long long)v->gaps,
                   (unsigned long long)(v->dropped + v->dropped_run));
    if (v->ledger != NULL)
        dom__json_u64(&j, v->mismatches);
    else
        dom__json_null(&j);
    dom__json_lit(&j, ",\"problems\":[");
    for (size_t i = 0; i < v->n_problems; ++i) {
        const struct problem *p = &v->problems[i];
        dom__json_lit(&j, i ? ",{\"file\":" : "{\"file\":");
        dom__json_str(&j, v->files[p->file]);
        dom__json_rawf(&j, ",\"line\":%u,\"kind\":", p->line);
        dom__json_str(&j, p->kind);
        dom__json_lit(&j, ",\"message\":");
        dom__json_str(&j, p->message);
        dom__json_lit(&j, "}");
    }
    dom__json_lit(&j, "]}\n");
}

static int load_keys(struct verifier *v, const char *path)
{
    dom_pin_keyring_t ring = {0};
    char err[512];
    if (dom_pin_keyring_load(path, &ring, err, sizeof(err)) != 0) {
        fprintf(stderr, "domicile audit verify: %s\n", err);
        return -1;
    }
    int ret = -1;
    if ((v->keys = calloc(ring.count, sizeof(*v->keys))) == NULL)
        goto cleanup;
    for (size_t i = 0; i < ring.count; ++i)
        if (dom_auditlog_key_derive(&ring.keys[i], &v->keys[v->n_keys++]) != DOM_OK)
            goto cleanup;
    ret = 0;

cleanup:
    if (ret != 0)
        fprintf(stderr, "domicile audit verify: out of memory\n");
    dom_pin_keyring_free(&ring);
    return ret;
}

static int verify(int argc, char **argv)
{
    struct verifier v = {0};
    const char *rules = NULL, *keys = NULL;
    int json = 0, ret = 2;
    if ((v.files = calloc((size_t)argc, sizeof(*v.files))) == NULL)
        goto cleanup;
    for (int i = 1; i < argc; ++i) {
        const char *a = argv[i];
        if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            fputs(verify_usage, stdout);
            ret = 0;
            goto cleanup;
        } else if (strcmp(a, "--json") == 0) {
            json = 1;
        } else if ((strcmp(a, "--rules") == 0 || strcmp(a, "--keys") == 0) && i + 1 < argc) {
            *(a[2] == 'r' ? &rules : &keys) = argv[++i];
        } else if (a[0] == '-' && a[1] != '\0') {
            fprintf(stderr, "domicile audit verify: unknown option \"%s\" (see --help)\n", a);
            goto cleanup;
        } else {
            v.files[v.n_files++] = argv[i];
        }
    }
    if (v.n_files == 0) {
        fputs(verify_usage, stderr);
        goto cleanup;
    }
    char err[512];
    if (rules != NULL && dom_ledger_open(rules, &v.ledger, err, sizeof(err)) != 0) {
        fprintf(stderr, "domicile audit verify: %s: %s\n", rules, err);
        goto cleanup;
    }
    if (keys != NULL && load_keys(&v, keys) != 0)
        goto cleanup;
    for (size_t f = 0; f < v.n_files; ++f)
        if (read_file(&v, (uint32_t)f) != 0)
            goto cleanup;
    check_chain(&v);
    if (v.oom) {
        fprintf(stderr, "domicile audit verify: out of memory\n");
        goto cleanup;
    }
    if (v.n_problems > 0) /* qsort of NULL, 0 is undefined */
        qsort(v.problems, v.n_problems, sizeof(*v.problems), by_position);
    if (v.n_versions > 0)
        qsort(v.versions, v.n_versions, sizeof(*v.versions), by_count);
    if (v.n_reasons > 0)
        qsort(v.reasons, v.n_reasons, sizeof(*v.reasons), by_count);
    if (json)
        print_json(&v);
    else
        print_text(&v);
    ret = v.n_problems > 0 ? 1 : 0;

cleanup:
    for (size_t i = 0; i < v.n_problems; ++i)
        free(v.problems[i].message);
    for (size_t i = 0; i < v.n_versions; ++i)
        free(v.versions[i].key);
    for (size_t i = 0; i < v.n_reasons; ++i)
        free(v.reasons[i].key);
    free(v.problems);
    free(v.versions);
    free(v.reasons);
    free(v.entries);
    free(v.files);
    if (v.keys != NULL)
        OPENSSL_cleanse(v.keys, v.n_keys * sizeof(*v.keys));
    free(v.keys);
    dom_ledger_close(v.ledger);
    return ret;
}

int dom_cli_audit(int argc, char **argv)
{
    if (argc >= 2 && strcmp(argv[1], "verify") == 0)
        return verify(argc - 1, argv + 1);
    if (argc >= 2 && (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0)) {
        fputs(audit_usage, stdout);
        return 0;
    }
    fputs(audit_usage, stderr);
    return 2;
}
