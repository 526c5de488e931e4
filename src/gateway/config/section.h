/*
 * The gateway config as tables (docs/internals/config.md). Each section of the file is a
 * table of rows, one row per key: its name, the field it fills, how its value is read
 * (parse), compared (kind, or its own equal) and what SIGHUP does with a change (reload).
 * The same tables drive parsing and the "unknown key" messages (config.c walks them),
 * SIGHUP's "applied / needs a restart" lists (dom_config_compare), and the key list of
 * docs/config.md (dom_config_keys_markdown). Adding a key is adding a row.
 *
 * One file per section in this folder; no libh2o here (explain -c uses the config too).
 */
#ifndef DOM_GATEWAY_CONFIG_SECTION_H
#define DOM_GATEWAY_CONFIG_SECTION_H

#include <stddef.h>
#include <stdint.h>
#include <yaml.h>
#include "gateway/config.h"
#include "util/yaml.h"

/** One parse of a config file. */
typedef struct dom__config_key dom__config_key_t;
typedef struct dom__config_section dom__config_section_t;

typedef struct dom__config_parser {
    dom__yaml_t y;
    dom_config_t *cfg;
    const dom__config_section_t *section; /* the mapping being walked: its prefix names keys in messages */
    int oom;
} dom__config_parser_t;

/** The C type of a row's field at `offset` of the object its section fills. */
typedef enum dom__config_kind {
    DOM__CFG_SECTION = 0, /* none: a mapping whose own rows fill fields of the same object */
    DOM__CFG_STR,         /* char *, owned (freed with the config) */
    DOM__CFG_U64,         /* uint64_t */
    DOM__CFG_UINT,        /* unsigned */
    DOM__CFG_INT,         /* int: booleans and enums */
    DOM__CFG_CHARS,       /* char[]: a NUL-terminated string in place */
    DOM__CFG_OTHER,       /* lists and the like: the row's own equal and release */
} dom__config_kind_t;

/** What SIGHUP does with a changed value (docs/operations.md). */
typedef enum dom__config_reload {
    DOM__RELOAD_RESTART = 0, /* logged as needing a restart; the running value stays */
    DOM__RELOAD_LIVE,        /* applied with the others, in one step (see live_if) */
} dom__config_reload_t;

/** Reads `value` into the row's field of obj, or reports why not (the field keeps its default). */
typedef void (*dom__config_parse_fn)(dom__config_parser_t *p, const dom__config_key_t *row, yaml_node_t *value,
                                     void *obj);

struct dom__config_key {
    const char *name; /* the key as written; first, for the key walker */
    dom__config_kind_t kind;
    size_t offset;              /* of the field in the object the section fills */
    dom__config_parse_fn parse; /* NULL for DOM__CFG_SECTION: the walker walks `section` */
    dom__config_reload_t reload;
    /* optional */
    const char *label;                    /* what messages call it; default: the section's prefix + name */
    size_t mark;                          /* DOM__MARK(field): set to where the value is; 0: none */
    uint64_t min, max;                    /* bounds of counts, sizes and durations (max 0: the parser's own) */
    uint64_t def;                         /* default of numbers (the config starts zeroed otherwise) */
    const char *def_str;                  /* default of strings */
    const char *const *choices;           /* enums: the spellings in the enum's order, NULL-terminated */
    const dom__config_section_t *section; /* DOM__CFG_SECTION, or the items of a list */
    /* DOM__CFG_OTHER: compare and free the field(s) of the objects a and b */
    int (*equal)(const void *a, const void *b);
    void (*release)(void *obj);
    /* LIVE only: when live_if says no, the change needs a restart and keep() puts the running value back */
    int (*live_if)(const dom_config_t *run, const dom_config_t *next);
    int (*keep)(dom_config_t *next, const dom_config_t *cur); /* 0, or DOM_ENOMEM */
    const char *refused;                                      /* why, when live_if says no (SIGHUP's log) */
    const char *note;                                         /* how it reloads, for docs/config.md */
};

/** DOM__MARK(type, field): a row's `mark` (offset + 1, so that 0 means none). */
#define DOM__MARK(type, field) (offsetof(type, field) + 1)

/** A mapping of the file: its rows, and checks that need all of them. */
struct dom__config_section {
    const char *name;   /* "limits", "a cluster": "unknown key "x" in <name>", "<name> must be a mapping" */
    const char *prefix; /* "limits.": what messages call its keys */
    const dom__config_key_t *keys;
    size_t n_keys;
    /* after the walk of one mapping: the checks across its keys (keys says which were there) */
    void (*check)(dom__config_parser_t *p, yaml_node_t *map, void *obj, const dom__yaml_keys_t *keys);
};

/** The fields a listen address fills: the listener's and admin's start like this (checked where they are used). */
typedef struct dom__config_address {
    char *text; /* as written */
    struct sockaddr_storage addr;
    socklen_t addrlen;
} dom__config_address_t;

/** The whole file's table (config.c). */
extern const dom__config_section_t dom__config_top;

/* ---- the sections (one file each) ---- */

extern const dom__config_section_t dom__config_geo;      /* geo.c */
extern const dom__config_section_t dom__config_pins;     /* pins.c */
extern const dom__config_section_t dom__config_consent;  /* consent.c */
extern const dom__config_section_t dom__config_limits;   /* limits.c */
extern const dom__config_section_t dom__config_audit;    /* audit.c */
extern const dom__config_section_t dom__config_admin;    /* admin.c */
extern const dom__config_section_t dom__config_listener; /* listen.c: one item of listen */
extern const dom__config_section_t dom__config_cluster;  /* clusters.c: one item of clusters */
extern const dom__config_section_t dom__config_override; /* overrides.c: one item of overrides */

/* lists at the top level: parse, compare, free */
void dom__config_parse_listen(dom__config_parser_t *p, const dom__config_key_t *row, yaml_node_t *value, void *obj);
int dom__config_listen_equal(const void *a, const void *b);
void dom__config_listen_release(void *obj);
void dom__config_parse_trusted(dom__config_parser_t *p, const dom__config_key_t *row, yaml_node_t *value, void *obj);
int dom__config_trusted_equal(const void *a, const void *b);
void dom__config_trusted_release(void *obj);
void dom__config_parse_overrides(dom__config_parser_t *p, const dom__config_key_t *row, yaml_node_t *value, void *obj);
int dom__config_overrides_equal(const void *a, const void *b);
void dom__config_overrides_release(void *obj);
void dom__config_parse_strip_headers(dom__config_parser_t *p, const dom__config_key_t *row, yaml_node_t *value,
                                     void *obj);
int dom__config_strip_headers_equal(const void *a, const void *b);
void dom__config_strip_headers_release(void *obj);
void dom__config_parse_refuse_methods(dom__config_parser_t *p, const dom__config_key_t *row, yaml_node_t *value,
                                      void *obj);
int dom__config_refuse_methods_equal(const void *a, const void *b);
void dom__config_refuse_methods_release(void *obj);
void dom__config_parse_clusters(dom__config_parser_t *p, const dom__config_key_t *row, yaml_node_t *value, void *obj);
int dom__config_clusters_equal(const void *a, const void *b);
void dom__config_clusters_release(void *obj);
/** After the whole file: every node's upstream values (its own, its cluster's, the defaults) and their checks. */
void dom__config_clusters_resolve(dom__config_parser_t *p, dom_config_t *cfg);

/* ---- the walker and the shared value readers (config.c, values.c) ---- */

/** Walks one mapping along a section's rows into obj: each key parsed, unknown ones reported, then s->check. */
void dom__config_walk(dom__config_parser_t *p, const dom__config_section_t *s, yaml_node_t *map, void *obj);
/** Same, with the caller's record of the keys met (DOM__YAML_KEY_ROWS(s->keys, s->n_keys)). */
void dom__config_walk_keys(dom__config_parser_t *p, const dom__config_section_t *s, yaml_node_t *map, void *obj,
                           dom__yaml_keys_t *seen);
/** Sets every row's default (numbers, strings) in obj, nested sections included. */
void dom__config_defaults(dom__config_parser_t *p, const dom__config_section_t *s, void *obj);
/** 1 if every row of s holds the same in a and b (nested sections included). */
int dom__config_section_equal(const dom__config_section_t *s, const void *a, const void *b);
/** Frees what the rows of s own in obj (strings, lists), nested sections included. */
void dom__config_section_release(const dom__config_section_t *s, void *obj);
/**
 * The start of every list parser: value must be a list; an empty one is an error when
 * empty_error says so. Returns a zeroed array of as many elements as it has, or NULL when there
 * is nothing to fill (not a list, empty, or out of memory: p->oom is then set).
 */
void *dom__config_list(dom__config_parser_t *p, yaml_node_t *value, const char *what, size_t elem_size,
                       const char *empty_error);

/** What messages call a row (its label, or the walked section's prefix and its name), written into buf. */
const char *dom__config_what(const dom__config_parser_t *p, const dom__config_key_t *row, char *buf, size_t len);
/** The row's field in obj. */
#define DOM__FIELD(type, row, obj) ((type *)(void *)((char *)(obj) + (row)->offset))

/** A scalar's text (NULL: reported) for the row. */
const char *dom__config_scalar(dom__config_parser_t *p, const dom__config_key_t *row, yaml_node_t *value);
/** strdup that notes running out of memory. */
char *dom__config_strdup(dom__config_parser_t *p, const char *s);
/** A path against the config's directory (an empty one is an error); NULL when reported. */
char *dom__config_path_value(dom__config_parser_t *p, yaml_node_t *value, const char *what);
/** An HTTP header name, lower-cased (h2o matches names in lower case); NULL when reported. */
char *dom__config_header_name(dom__config_parser_t *p, yaml_node_t *value, const char *what);
/** "a.b.c.d:port" or "[v6]:port" (numeric: a listener binds, it does not resolve). Returns 0, or -1 with *why. */
int dom__config_hostport(const char *s, struct sockaddr_storage *ss, socklen_t *len, const char **why);
/** Leading decimal digits of s; returns the rest, or NULL on no digits / overflow. */
const char *dom__config_u64(const char *s, uint64_t *out);

/* Row parsers: the field's kind is in the comment. */
void dom__config_parse_str_path(dom__config_parser_t *p, const dom__config_key_t *row, yaml_node_t *v,
                                void *obj); /* STR */
void dom__config_parse_header(dom__config_parser_t *p, const dom__config_key_t *row, yaml_node_t *v,
                              void *obj);                                                                      /* STR */
void dom__config_parse_name(dom__config_parser_t *p, const dom__config_key_t *row, yaml_node_t *v, void *obj); /* STR */
void dom__config_parse_listen_address(dom__config_parser_t *p, const dom__config_key_t *row, yaml_node_t *v,
                                      void *obj); /* dom__config_address_t */
void dom__config_parse_bool(dom__config_parser_t *p, const dom__config_key_t *row, yaml_node_t *v, void *obj); /* INT */
void dom__config_parse_enum(dom__config_parser_t *p, const dom__config_key_t *row, yaml_node_t *v, void *obj); /* INT */
void dom__config_parse_count(dom__config_parser_t *p, const dom__config_key_t *row, yaml_node_t *v,
                             void *obj); /* UINT or U64 */
void dom__config_parse_size(dom__config_parser_t *p, const dom__config_key_t *row, yaml_node_t *v, void *obj); /* U64 */
void dom__config_parse_duration(dom__config_parser_t *p, const dom__config_key_t *row, yaml_node_t *v,
                                void *obj); /* U64, milliseconds */

#endif
