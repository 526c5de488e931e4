/*
 * Step 3 of the request path: consent tokens and their revocation list (include/domicile/consent.h,
 * docs/internals/consent.md). The signed-token mechanics are pins' (token.h): one key file
 * format, one HMAC, one constant-time comparison. Verification runs on every request of a
 * consent-gated class, so it parses in place and refuses malformed and unknown-key tokens
 * before any cryptography; a revocation lookup is two binary searches.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <openssl/crypto.h>
#include <openssl/sha.h>
#include "domicile/consent.h"
#include "token.h"
#include "util/text.h"
#include "util/time.h"
#include "util/validate.h"

#define CONSENT_VERSION "c1"
#define N_PARTS 8
#define REVOCATIONS_MAX (16 * 1024 * 1024)

/* ---- tokens ------------------------------------------------------------------------------- */

typedef struct parsed_consent {
    const char *kid;
    size_t kid_len;
    const char *signed_part;
    size_t signed_len;
    unsigned char signature[DOM__TOKEN_MAC_LEN];
} parsed_consent_t;

static int scope_char(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '-';
}

/* Compares two scope names of given lengths like strcmp. */
static int scope_cmp(const char *a, size_t alen, const char *b, size_t blen)
{
    int c = memcmp(a, b, alen < blen ? alen : blen);
    return c != 0 ? c : (alen > blen) - (alen < blen);
}

/*
 * Checks a '+'-joined scope list: 1..DOM_CONSENT_SCOPES_MAX names of [a-z0-9_-]{1,63}, strictly
 * ascending. Returns the count, or 0 with *why.
 */
static size_t check_scopes(const char *s, size_t n, const char **why)
{
    size_t count = 0, start = 0;
    const char *prev = NULL;
    size_t prev_len = 0;
    if (n == 0 || n > DOM_CONSENT_SCOPES_CHARS) {
        *why = "the scopes are not 1-511 characters";
        return 0;
    }
    for (size_t i = 0; i <= n; ++i) {
        if (i < n && s[i] != '+') {
            if (!scope_char((unsigned char)s[i])) {
                *why = "a scope is not made of a-z 0-9 _ - (scopes are joined by '+')";
                return 0;
            }
            continue;
        }
        size_t len = i - start;
        if (len == 0 || len > DOM_NAME_MAX) {
            *why = "a scope is empty or longer than 63 characters";
            return 0;
        }
        if (prev != NULL && scope_cmp(prev, prev_len, s + start, len) >= 0) {
            *why = "the scopes are not in strictly ascending order (one spelling per token)";
            return 0;
        }
        if (++count > DOM_CONSENT_SCOPES_MAX) {
            *why = "the token has more than 16 scopes";
            return 0;
        }
        prev = s + start;
        prev_len = len;
        start = i + 1;
    }
    return count;
}

static void copy_part(char *dst, const char *src, size_t n)
{
    memcpy(dst, src, n);
    dst[n] = '\0';
}

/* Strict parse of all eight parts; fills out (if not NULL) as it goes. NULL, or what is wrong. */
static const char *parse_consent(const char *token, size_t len, parsed_consent_t *p, dom_consent_t *out)
{
    const char *part[N_PARTS];
    size_t part_len[N_PARTS];
    const char *why = NULL;
    int64_t t;

    if (token == NULL || len == 0)
        return "the consent token is empty";
    if (len > DOM_CONSENT_TOKEN_MAX)
        return "the consent token is longer than 1024 bytes";
    size_t n = dom__token_split(token, len, part, part_len, N_PARTS);
    if (n != N_PARTS)
        return "the consent token does not have 8 dot-separated parts "
               "(c1.<kid>.<id>.<subject>.<scopes>.<issued-at>.<expiry>.<signature>)";
    if (part_len[0] != 2 || memcmp(part[0], CONSENT_VERSION, 2) != 0)
        return "the consent token does not start with version \"c1\"";
    if (!dom__valid_name(part[1], part_len[1], DOM_PIN_KID_MAX))
        return "the key id is not 1-32 characters of A-Z a-z 0-9 _ -";
    p->kid = part[1];
    p->kid_len = part_len[1];
    if (out != NULL)
        copy_part(out->kid, part[1], part_len[1]);
    if (!dom__valid_name(part[2], part_len[2], DOM_CONSENT_ID_MAX))
        return "the token id is not 1-32 characters of A-Z a-z 0-9 _ -";
    if (out != NULL)
        copy_part(out->id, part[2], part_len[2]);
    if (!dom__valid_name(part[3], part_len[3], DOM_CONSENT_SUBJECT_MAX))
        return "the subject is not 1-64 characters of A-Z a-z 0-9 _ -";
    if (out != NULL)
        copy_part(out->subject, part[3], part_len[3]);
    size_t n_scopes = check_scopes(part[4], part_len[4], &why);
    if (n_scopes == 0)
        return why;
    if (out != NULL) {
        copy_part(out->scopes, part[4], part_len[4]);
        out->n_scopes = n_scopes;
    }
    if (dom__token_time(part[5], part_len[5], &t) != 0)
        return "the issued-at time is not 1-12 decimal digits without a leading zero";
    if (out != NULL)
        out->issued_at = t;
    int64_t issued_at = t;
    if (dom__token_time(part[6], part_len[6], &t) != 0)
        return "the expiry is not 1-12 decimal digits without a leading zero";
    if (out != NULL)
        out->expiry = t;
    if (issued_at > t)
        return "the token is issued after it expires";
    if (part_len[7] != DOM__TOKEN_SIG_CHARS)
        return "the signature is not 43 base64url characters";
    if (dom__token_signature(part[7], part_len[7], p->signature) != 0)
        return "the signature is not canonical base64url";
    p->signed_part = token;
    p->signed_len = (size_t)(part[7] - 1 - token);
    return NULL;
}

static int by_scope(const void *a, const void *b)
{
    const char *const *x = a, *const *y = b;
    return strcmp(*x, *y);
}

/* Splits scopes on ',' or '+', trims blanks, sorts; writes the '+'-joined list into out. DOM_EINVAL/DOM_ERANGE. */
static int canonical_scopes(const char *scopes, char *out, size_t outlen)
{
    char buf[DOM_CONSENT_SCOPES_CHARS + 1];
    char *names[DOM_CONSENT_SCOPES_MAX + 1];
    size_t n = 0, len = strlen(scopes);
    if (len == 0 || len > DOM_CONSENT_SCOPES_CHARS)
        return DOM_EINVAL;
    memcpy(buf, scopes, len + 1);
    for (char *save = NULL, *tok = strtok_r(buf, ",+", &save); tok != NULL; tok = strtok_r(NULL, ",+", &save)) {
        while (*tok == ' ')
            ++tok;
        size_t tl = strlen(tok);
        while (tl > 0 && tok[tl - 1] == ' ')
            tok[--tl] = '\0';
        if (n == DOM_CONSENT_SCOPES_MAX)
            return DOM_EINVAL;
        names[n++] = tok;
    }
    if (n == 0)
        return DOM_EINVAL;
    qsort(names, n, sizeof(names[0]), by_scope);
    size_t o = 0;
    for (size_t i = 0; i < n; ++i) {
        size_t nl = strlen(names[i]);
        if (i > 0 && strcmp(names[i - 1], names[i]) == 0)
            return DOM_EINVAL;
        if (o + nl + 2 > outlen)
            return DOM_ERANGE;
        if (i > 0)
            out[o++] = '+';
        memcpy(out + o, names[i], nl);
        o += nl;
    }
    out[o] = '\0';
    const char *why;
    return check_scopes(out, o, &why) == n ? DOM_OK : DOM_EINVAL;
}

int dom_consent_issue(const dom_pin_keyring_t *ring, const char *kid, const char *id, const char *subject,
                      const char *scopes, int64_t issued_at, int64_t expiry, char *out, size_t outlen)
{
    char token[DOM_CONSENT_TOKEN_MAX + 1];
    char joined[DOM_CONSENT_SCOPES_CHARS + 1];
    const dom_pin_key_t *key;
    int ret;

    if (out != NULL && outlen > 0)
        out[0] = '\0';
    if ((ret = dom__token_signing_key(ring, kid, &key)) != DOM_OK)
        return ret;
    if (id == NULL || !dom__valid_name(id, strnlen(id, DOM_CONSENT_ID_MAX + 1), DOM_CONSENT_ID_MAX) ||
        subject == NULL ||
        !dom__valid_name(subject, strnlen(subject, DOM_CONSENT_SUBJECT_MAX + 1), DOM_CONSENT_SUBJECT_MAX) ||
        scopes == NULL)
        return DOM_EINVAL;
    if ((ret = canonical_scopes(scopes, joined, sizeof(joined))) != DOM_OK)
        return ret == DOM_ERANGE ? DOM_EINVAL : ret;
    if (issued_at < 0 || expiry < 0 || issued_at > DOM__TOKEN_TIME_MAX || expiry > DOM__TOKEN_TIME_MAX ||
        issued_at > expiry)
        return DOM_ERANGE;
    /* 2+1+32+1+32+1+64+1+511+1+12+1+12 = 671, + 1 + 43 = 715: always fits DOM_CONSENT_TOKEN_MAX. */
    int n = snprintf(token, sizeof(token), CONSENT_VERSION ".%s.%s.%s.%s.%lld.%lld", key->kid, id, subject, joined,
                     (long long)issued_at, (long long)expiry);
    if ((ret = dom__token_sign(key, token, (size_t)n)) != DOM_OK)
        return ret;
    size_t len = (size_t)n + 1 + DOM__TOKEN_SIG_CHARS;
    if (out == NULL || outlen < len + 1)
        return DOM_ERANGE;
    memcpy(out, token, len + 1);
    return DOM_OK;
}

int dom_consent_verify(const dom_pin_keyring_t *ring, const dom_consent_revocations_t *revoked, const char *token,
                       size_t len, int64_t now, dom_consent_t *out)
{
    parsed_consent_t p;
    dom_consent_t local;
    dom_consent_t *c = out != NULL ? out : &local;

    memset(c, 0, sizeof(*c));
    if (parse_consent(token, len, &p, c) != NULL)
        return DOM_ECONSENT_MALFORMED;
    switch (dom__token_check(ring, p.kid, p.kid_len, p.signed_part, p.signed_len, p.signature)) {
    case DOM_OK:
        break;
    case DOM_EPIN_UNKNOWN_KEY:
        return DOM_ECONSENT_UNKNOWN_KEY;
    case DOM_EPIN_BAD_SIGNATURE:
        return DOM_ECONSENT_BAD_SIGNATURE;
    default:
        return DOM_ENOMEM;
    }
    /* Only now are the fields facts: "expired" and "revoked" describe genuine tokens only. */
    if (now >= c->expiry)
        return DOM_ECONSENT_EXPIRED;
    if (revoked != NULL && dom_consent_revoked(revoked, c))
        return DOM_ECONSENT_REVOKED;
    return DOM_OK;
}

int dom_consent_covers(const dom_consent_t *c, const char *scope, size_t len)
{
    if (c == NULL || scope == NULL || len == 0)
        return 0;
    const char *s = c->scopes;
    for (;;) {
        const char *plus = strchr(s, '+');
        size_t n = plus != NULL ? (size_t)(plus - s) : strlen(s);
        if (n == len && memcmp(s, scope, len) == 0)
            return 1;
        if (plus == NULL)
            return 0;
        s = plus + 1;
    }
}

const char *dom_consent_reason(int verify_result)
{
    switch (verify_result) {
    case DOM_OK:
        return "consent_valid";
    case DOM_ECONSENT_MALFORMED:
        return "consent_malformed";
    case DOM_ECONSENT_UNKNOWN_KEY:
        return "consent_unknown_key";
    case DOM_ECONSENT_BAD_SIGNATURE:
        return "consent_bad_signature";
    case DOM_ECONSENT_EXPIRED:
        return "consent_expired";
    case DOM_ECONSENT_REVOKED:
        return "consent_revoked";
    default:
        return "consent_error";
    }
}

const char *dom_consent_malformed_why(const char *token, size_t len)
{
    parsed_consent_t p;
    return parse_consent(token, len, &p, NULL);
}

/* ---- revocation lists --------------------------------------------------------------------- */

typedef struct revoked_id {
    char id[DOM_CONSENT_ID_MAX + 1];
} revoked_id_t;

typedef struct revoked_subject {
    char subject[DOM_CONSENT_SUBJECT_MAX + 1];
    int64_t before; /* tokens issued strictly before this are revoked */
} revoked_subject_t;

struct dom_consent_revocations {
    revoked_id_t *ids;
    size_t n_ids;
    revoked_subject_t *subjects;
    size_t n_subjects;
    char sha256[65];
};

static int by_id(const void *a, const void *b)
{
    return strcmp(((const revoked_id_t *)a)->id, ((const revoked_id_t *)b)->id);
}

static int by_subject(const void *a, const void *b)
{
    return strcmp(((const revoked_subject_t *)a)->subject, ((const revoked_subject_t *)b)->subject);
}

/* The next blank-separated word of line[*at..n), or 0 length. */
static size_t word(const char *line, size_t n, size_t *at, const char **w)
{
    while (*at < n && (line[*at] == ' ' || line[*at] == '\t'))
        ++*at;
    size_t start = *at;
    while (*at < n && line[*at] != ' ' && line[*at] != '\t')
        ++*at;
    *w = line + start;
    return *at - start;
}

int dom_consent_revocations_parse(const char *name, const char *buf, size_t len, dom_consent_revocations_t **out,
                                  char *err, size_t errlen)
{
    dom_consent_revocations_t *r = calloc(1, sizeof(*r));
    size_t cap_ids = 0, cap_subjects = 0;
    unsigned lineno = 0;
    int ret = DOM_EINVAL;

    *out = NULL;
    if (err != NULL && errlen > 0)
        err[0] = '\0';
    if (r == NULL) {
        dom__token_err(err, errlen, "%s: out of memory", name);
        return DOM_ENOMEM;
    }
    for (size_t at = 0; at < len;) {
        const char *line = buf + at;
        const char *nl = memchr(line, '\n', len - at);
        size_t n = nl != NULL ? (size_t)(nl - line) : len - at, i = 0;
        const char *w, *w2;
        size_t wl, wl2;
        at += n + 1;
        ++lineno;
        if (n > 0 && line[n - 1] == '\r')
            --n;
        if (memchr(line, '\0', n) != NULL) {
            dom__token_err(err, errlen, "%s:%u: the line contains a NUL byte", name, lineno);
            goto cleanup;
        }
        const char *hash = memchr(line, '#', n);
        if (hash != NULL)
            n = (size_t)(hash - line);
        if ((wl = word(line, n, &i, &w)) == 0)
            continue;
        if (wl == 2 && memcmp(w, "id", 2) == 0) {
            wl2 = word(line, n, &i, &w2);
            if (!dom__valid_name(w2, wl2, DOM_CONSENT_ID_MAX)) {
                dom__token_err(err, errlen, "%s:%u: the token id is not 1-32 characters of A-Z a-z 0-9 _ -", name,
                               lineno);
                goto cleanup;
            }
            revoked_id_t *ids = dom__array_grow(r->ids, r->n_ids, &cap_ids, 16, sizeof(*ids));
            if (ids == NULL)
                goto oom;
            r->ids = ids;
            copy_part(r->ids[r->n_ids++].id, w2, wl2);
        } else if (wl == 7 && memcmp(w, "subject", 7) == 0) {
            const char *kw, *tw;
            size_t kwl, twl;
            int64_t before;
            wl2 = word(line, n, &i, &w2);
            kwl = word(line, n, &i, &kw);
            twl = word(line, n, &i, &tw);
            if (!dom__valid_name(w2, wl2, DOM_CONSENT_SUBJECT_MAX)) {
                dom__token_err(err, errlen, "%s:%u: the subject is not 1-64 characters of A-Z a-z 0-9 _ -", name,
                               lineno);
                goto cleanup;
            }
            if (kwl != 6 || memcmp(kw, "before", 6) != 0 || dom__time_parse(tw, twl, DOM__TIME_ANY, &before) != 0) {
                dom__token_err(err, errlen, "%s:%u: expected \"subject <subject> before <time>\" (%s)", name, lineno,
                               DOM__TIME_ANY_WORDS);
                goto cleanup;
            }
            revoked_subject_t *subjects =
                dom__array_grow(r->subjects, r->n_subjects, &cap_subjects, 16, sizeof(*subjects));
            if (subjects == NULL)
                goto oom;
            r->subjects = subjects;
            copy_part(r->subjects[r->n_subjects].subject, w2, wl2);
            r->subjects[r->n_subjects++].before = before;
        } else {
            dom__token_err(err, errlen, "%s:%u: expected \"id <token id>\" or \"subject <subject> before <time>\"",
                           name, lineno);
            goto cleanup;
        }
        if (word(line, n, &i, &w) != 0) {
            dom__token_err(err, errlen, "%s:%u: unexpected text after the entry (one entry per line)", name, lineno);
            goto cleanup;
        }
    }
    /* (qsort and bsearch want a non-NULL base even for no elements) */
    if (r->n_ids > 1)
        qsort(r->ids, r->n_ids, sizeof(*r->ids), by_id);
    if (r->n_subjects > 1)
        qsort(r->subjects, r->n_subjects, sizeof(*r->subjects), by_subject);
    /* a subject listed twice: the latest "before" wins (it revokes everything the earlier one did) */
    size_t k = 0;
    for (size_t j = 0; j < r->n_subjects; ++j) {
        if (k > 0 && strcmp(r->subjects[k - 1].subject, r->subjects[j].subject) == 0) {
            if (r->subjects[j].before > r->subjects[k - 1].before)
                r->subjects[k - 1].before = r->subjects[j].before;
        } else {
            r->subjects[k++] = r->subjects[j];
        }
    }
    r->n_subjects = k;
    unsigned char md[SHA256_DIGEST_LENGTH];
    SHA256(len != 0 ? (const unsigned char *)buf : (const unsigned char *)"", len, md);
    for (size_t j = 0; j < sizeof(md); ++j)
        snprintf(r->sha256 + 2 * j, 3, "%02x", md[j]);
    *out = r;
    return DOM_OK;
oom:
    ret = DOM_ENOMEM;
    dom__token_err(err, errlen, "%s: out of memory", name);
cleanup:
    dom_consent_revocations_free(r);
    return ret;
}

int dom_consent_revocations_load(const char *path, dom_consent_revocations_t **out, char *err, size_t errlen)
{
    char *buf = NULL, too_large[64];
    size_t len = 0;
    *out = NULL;
    snprintf(too_large, sizeof(too_large), "the revocation list is larger than %d MiB", REVOCATIONS_MAX >> 20);
    int ret = dom__token_read_file(path, REVOCATIONS_MAX, too_large, &buf, &len, err, errlen);
    if (ret == DOM_OK)
        ret = dom_consent_revocations_parse(path, buf, len, out, err, errlen);
    free(buf);
    return ret;
}

void dom_consent_revocations_free(dom_consent_revocations_t *r)
{
    if (r == NULL)
        return;
    free(r->ids);
    free(r->subjects);
    free(r);
}

int dom_consent_revoked(const dom_consent_revocations_t *r, const dom_consent_t *c)
{
    if (r == NULL || c == NULL)
        return 0;
    revoked_id_t key;
    if (r->n_ids != 0 && strlen(c->id) < sizeof(key.id)) {
        strcpy(key.id, c->id);
        if (bsearch(&key, r->ids, r->n_ids, sizeof(*r->ids), by_id) != NULL)
            return 1;
    }
    revoked_subject_t skey;
    if (r->n_subjects != 0 && strlen(c->subject) < sizeof(skey.subject)) {
        strcpy(skey.subject, c->subject);
        const revoked_subject_t *s = bsearch(&skey, r->subjects, r->n_subjects, sizeof(*r->subjects), by_subject);
        if (s != NULL && c->issued_at < s->before)
            return 1;
    }
    return 0;
}

size_t dom_consent_revocations_count(const dom_consent_revocations_t *r)
{
    return r != NULL ? r->n_ids + r->n_subjects : 0;
}

const char *dom_consent_revocations_sha256(const dom_consent_revocations_t *r)
{
    return r != NULL ? r->sha256 : "";
}
