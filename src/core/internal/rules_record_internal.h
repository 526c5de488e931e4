/*
 * The record codec of a compiled rules file (dom__ names): which LMDB tables it has,
 * the key of each record, and each record's fields, encoded by the compiler
 * (src/rules/rules_compile.c) and decoded by the live store (src/core/rules_store.c)
 * through the same field tables in src/core/rules_record.c, so a field cannot be
 * written under one name and read under another. The texts of the enums in those
 * fields are the public ones of domicile/rules_record.h. See docs/internals/rules.md.
 *
 * A record is lines "name=value\n", the value escaped (\\ \n \t); unknown fields are
 * ignored when decoding (an additive change keeps the format), a missing one is an error.
 */
#ifndef DOM_RULES_RECORD_INTERNAL_H
#define DOM_RULES_RECORD_INTERNAL_H

#include <stddef.h>
#include <stdint.h>
#include <lmdb.h>
#include "domicile/rules_record.h"
#include "ruleset_internal.h"
#include "util/text.h"

/** Version of the record encoding (the value of meta "format"); bumped for any incompatible change. */
#define DOM__RULES_FORMAT "domicile-rules/1"

/** The named LMDB databases of a rules file, in the order the compiler fills them. */
typedef enum dom__rules_table {
    DOM__TABLE_META = 0,      /* dom__rules_meta_t key -> raw text */
    DOM__TABLE_REGIONS,       /* index -> dom_region_t */
    DOM__TABLE_CLASSES,       /* index -> dom_data_class_t */
    DOM__TABLE_ROUTES,        /* index -> dom_route_rule_t (longest prefix first) */
    DOM__TABLE_JURISDICTIONS, /* index -> dom_jurisdiction_t but its classes (sorted by name, effective) */
    DOM__TABLE_CLASS_RULES,   /* dom__class_rule_key() -> dom_class_rule_t */
    DOM__TABLE_CLAIMS,        /* index -> dom_rule_claim_t */
    DOM__TABLE_COUNT
} dom__rules_table_t;

/** The LMDB name of a table ("meta", "regions", ...); "?" outside the enum. */
const char *dom__rules_table_name(dom__rules_table_t table);

/** The keys of the meta table. Their values are raw text, not records. */
typedef enum dom__rules_meta {
    DOM__META_FORMAT = 0,    /* DOM__RULES_FORMAT */
    DOM__META_GENERATION,    /* decimal, the previous compile's + 1 */
    DOM__META_SOURCE_HASH,   /* 64 lowercase hex digits */
    DOM__META_COMPILED_AT,   /* decimal unix seconds */
    DOM__META_DEFAULT_CLASS, /* a class name */
    DOM__META_READ_METHODS,  /* ","-separated method tokens; optional: a file without it reads with the default */
    DOM__META_COUNT
} dom__rules_meta_t;

/** The key of a meta value ("format", "generation", ...); "?" outside the enum. */
const char *dom__rules_meta_key(dom__rules_meta_t key);

/** Room for any record key, NUL included. */
#define DOM__RECORD_KEY_MAX (24 + DOM_NAME_MAX)

/** Writes the key of record `index` of an array table, "%08zu" (LMDB's byte order is then the index order). Returns
 * its length. */
size_t dom__record_key(char out[DOM__RECORD_KEY_MAX], size_t index);

/** Writes the class_rules key of a jurisdiction (index) and a class (name): "%08zu/<class>". Returns its length. */
size_t dom__class_rule_key(char out[DOM__RECORD_KEY_MAX], size_t jurisdiction, const char *class_name);

/* ---- encoding (the compiler) ---- */

/** One encoded value or record: base[0..len) (NUL-terminated when base is not NULL); `failed` (out of memory) is
 * sticky. The util layer's growable text. */
typedef dom__text_t dom__record_buf_t;

/** Empties the buffer for the next record, keeping its memory. */
void dom__record_buf_clear(dom__record_buf_t *b);
/** Frees the buffer's memory. */
void dom__record_buf_free(dom__record_buf_t *b);

/** Appends one line "name=value\n" to b, the value escaped (\\ \n \t): the framing of every record and of the
 * canonical rule texts (src/core/rules_hash.c). NULL value: "". */
void dom__record_put_field(dom__record_buf_t *b, const char *name, const char *value);

/** Unescapes n bytes of a field's value into out (room for n + 1; NUL-terminated). Returns the length, or (size_t)-1
 * for a bad escape or a control byte other than \n and \t. */
size_t dom__record_unescape(const char *s, size_t n, char *out);

/**
 * Appends one record of `table` to b: `record` points to the struct the table holds (see dom__rules_table_t; a
 * jurisdiction's class rules are records of their own). rs gives the names of the regions and classes the record
 * refers to by index. Clear b between records; out of memory sets b->failed. DOM__TABLE_META appends nothing.
 */
void dom__record_encode(dom__record_buf_t *b, dom__rules_table_t table, const dom_ruleset_t *rs, const void *record);

/** Appends the meta value of `key` for rs; generation is the database's (not the set's), for DOM__META_GENERATION. */
void dom__meta_encode(dom__record_buf_t *b, dom__rules_meta_t key, const dom_ruleset_t *rs, uint64_t generation);

/* ---- decoding (the store) ---- */

/** What decoding needs and where its first failure goes. */
typedef struct dom__record_decoder {
    dom__arena_t *arena;           /* decoded strings are copied here */
    dom_ruleset_t *rs;             /* the set being loaded: what records refer to (regions, classes, the number of
                                    * jurisdictions) must be in it already; meta values are stored into it */
    char key[DOM__RECORD_KEY_MAX]; /* the record being decoded, for messages (dom__record_at) */
    char *err;                     /* the first failure's message */
    size_t errlen;
    int failed; /* 0, or the first failure's code */
} dom__record_decoder_t;

/** Names the record about to be decoded in messages: its key (cut to fit; need not be NUL-terminated). */
void dom__record_at(dom__record_decoder_t *d, const void *key, size_t len);

/** Records a failure (only the first one counts: its code and message) and returns code. */
__attribute__((format(printf, 3, 4))) int dom__record_fail(dom__record_decoder_t *d, int code, const char *fmt, ...);

/**
 * Decodes one record of `table` (len bytes) into the struct `record` points to, the type dom__rules_table_t names;
 * members not in the record (a jurisdiction's classes) are left as they are. Every field must be present and in
 * range, every name known: regions and classes by name in d->rs, a claim's jurisdiction index below
 * d->rs->n_jurisdictions. Returns 0, or the failure recorded in d: DOM_ECORRUPT with a message naming the table,
 * the record (dom__record_at) and the field, or DOM_ENOMEM.
 */
int dom__record_decode(dom__record_decoder_t *d, dom__rules_table_t table, const void *data, size_t len, void *record);

/**
 * Decodes the meta value of `key` into d->rs (DOM__META_FORMAT only checks it is DOM__RULES_FORMAT;
 * DOM__META_DEFAULT_CLASS needs d->rs->classes). Errors as dom__record_decode().
 */
int dom__meta_decode(dom__record_decoder_t *d, dom__rules_meta_t key, const void *data, size_t len);

/**
 * Checks that the file of an open LMDB environment holds every page its last commit uses: a truncated file would
 * otherwise fault (SIGBUS) when a reader touches a page past its end. Returns 0, or DOM_ECORRUPT with a message.
 */
int dom__rules_file_complete(MDB_env *env, char *err, size_t errlen);

#endif
