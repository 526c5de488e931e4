/*
 * The audit log's hash chain (docs/internals/audit.md): what the gateway's writer appends to
 * every line and what `domicile audit verify` checks, defined once.
 *
 * Every line of an audit log is one JSON object ending in
 *
 *     ...,"seq":<n>,"prev":"<sha256 hex of the previous line>"}
 *
 * where a line's hash is the SHA-256 of its bytes without the newline, and seq counts every line
 * the chain ever held (1 for the first, across files, reopens and restarts). Checkpoint lines also
 * end in ,"kid":"<key id>","mac":"<hex HMAC-SHA256>"}: the MAC, under a key derived from a key
 * file's secret, covers the line's bytes before ,"mac": (so the chain head it names, and with it
 * every line before).
 */
#ifndef DOMICILE_AUDITLOG_H
#define DOMICILE_AUDITLOG_H

#include <stddef.h>
#include <stdint.h>
#include "domicile/common.h"
#include "domicile/pin.h"

/** A position in the chain: the last line's sequence number and hash (hex). {0, 64 zeros}: nothing yet. */
typedef struct dom_auditlog_link {
    uint64_t seq;
    char hash[65];
} dom_auditlog_link_t;

/** A checkpoint key: the key id and HMAC-SHA256(secret, "domicile audit checkpoint v1"). */
typedef struct dom_auditlog_key {
    char kid[DOM_PIN_KID_MAX + 1];
    unsigned char key[32];
} dom_auditlog_key_t;

/** Bytes the chain adds to a line at most (seq, prev, kid, mac, braces, newline). */
#define DOM_AUDITLOG_SEAL_MAX 256

/** The start of the chain: seq 0, a hash of 64 zeros. */
void dom_auditlog_genesis(dom_auditlog_link_t *link);

/** The hash of one line: SHA-256 of line[0..len) (pass it without its newline) as lower-case hex into out[65]. */
void dom_auditlog_hash(const char *line, size_t len, char out[65]);

/**
 * Derives the checkpoint key from a key-file key (pin keyring format, pin.h), so the same
 * secret never signs two kinds of thing. Returns DOM_OK, or DOM_ENOMEM if OpenSSL fails.
 */
int dom_auditlog_key_derive(const dom_pin_key_t *secret, dom_auditlog_key_t *out);

/**
 * Appends the chain to one line: body[0..len) is a JSON object without its closing '}' (and no
 * newline). Writes body, ,"seq":<link->seq + 1>,"prev":"<link->hash>" and, with a key, the kid and
 * the MAC, then "}\n" into out, and advances link to the new line. Returns the bytes written, or 0
 * (link unchanged) if they do not fit in outlen.
 */
size_t dom_auditlog_seal(dom_auditlog_link_t *link, const char *body, size_t len, const dom_auditlog_key_t *key,
                         char *out, size_t outlen);

/** What a line is. */
typedef enum dom_auditlog_kind {
    DOM_AUDITLOG_REQUEST = 0, /* a decision (no "type" member) */
    DOM_AUDITLOG_OPEN,        /* "type":"open": a writer started or reopened the file */
    DOM_AUDITLOG_CHECKPOINT,  /* "type":"checkpoint": a signed chain head */
    DOM_AUDITLOG_OTHER,       /* another "type": kept in the chain, not interpreted */
} dom_auditlog_kind_t;

/** The members of one line that the chain and the verifier use ("" or 0 when absent or null). */
typedef struct dom_auditlog_line {
    dom_auditlog_kind_t kind;
    int chained; /* has a seq and a well-formed prev */
    uint64_t seq;
    char prev[65], hash[65]; /* hash: of this line */
    char time[40], instance[DOM_NAME_MAX + 1], type[32];
    /* requests */
    char method[32], country[8], subdivision[16], jurisdiction[DOM_NAME_MAX + 1], rule_version[DOM_NAME_MAX + 1];
    char rule_hash[65], ruleset[65], class_name[DOM_NAME_MAX + 1], access[8], action[16], reason[DOM_NAME_MAX + 1];
    char region[DOM_NAME_MAX + 1];
    int status;
    /* open lines */
    char chain_from[16], open_reason[16];
    /* checkpoints */
    char kid[DOM_PIN_KID_MAX + 1], mac[65];
    uint64_t lines, dropped;
    size_t mac_at; /* the MAC covers line[0..mac_at) */
} dom_auditlog_line_t;

/**
 * Parses one line (without its newline) with the one JSON reader and fills out, hash included.
 * Returns DOM_OK; DOM_EINVAL if it is not one JSON object, a member has the wrong type, a string
 * is longer than its field, seq is not an integer, or prev is not 64 hex digits; DOM_ENOMEM.
 */
int dom_auditlog_parse(const char *line, size_t len, dom_auditlog_line_t *out);

/**
 * Checks a parsed checkpoint's MAC over line[0..l->mac_at) with the key of its kid among keys[0..n).
 * Returns DOM_OK, DOM_ENOTFOUND (no key with that kid), DOM_EINVAL (the MAC does not match or the
 * line is no checkpoint).
 */
int dom_auditlog_check_mac(const char *line, const dom_auditlog_line_t *l, const dom_auditlog_key_t *keys, size_t n);

/**
 * The chain position at the end of a file: the hash of its last complete line and the seq of the
 * last chained line near the end plus the lines after it (a line of an older format has no seq).
 * Sets *partial when the file does not end in a newline (a torn write: the next line must start a
 * new one). Returns 1 found, 0 no complete line (empty, absent, not a regular file), DOM_EIO.
 */
int dom_auditlog_tail(const char *path, dom_auditlog_link_t *out, int *partial);

/** Length of a state record: "v1 <seq, 20 digits> <hash>\n". */
#define DOM_AUDITLOG_STATE_LEN 89

/** Formats link as a state record into out[DOM_AUDITLOG_STATE_LEN + 1]. */
void dom_auditlog_state_format(const dom_auditlog_link_t *link, char *out);

/** Reads a state file. Returns 1 read, 0 absent or empty, DOM_EINVAL (not a state record), DOM_EIO. */
int dom_auditlog_state_read(const char *path, dom_auditlog_link_t *out);

#endif
