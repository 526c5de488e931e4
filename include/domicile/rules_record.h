/*
 * The words of a rule set: the one mapping between each enum the rules use and the text
 * that stands for it, wherever that text appears (rule files, the compiled LMDB records,
 * `rules show`, admin /status, `explain`). The same text is written as is parsed, so
 * what the YAML says, what the database holds and what the tools print cannot drift
 * apart. The record format of the LMDB file itself is internal (src/core/internal/
 * rules_record_internal.h); both are implemented in src/core/rules_record.c
 * (docs/internals/rules.md).
 *
 * Every *_name() returns a static string, "?" for a value outside the enum (a text no
 * *_parse() accepts, so a bad value never turns into a valid one). Every *_parse() takes
 * a text that need not be NUL-terminated, compares it exactly (case-sensitive), and
 * returns 0 or DOM_EINVAL (leaving *out untouched).
 */
#ifndef DOMICILE_RULES_RECORD_H
#define DOMICILE_RULES_RECORD_H

#include <stddef.h>
#include "domicile/rules.h"

/** "enforce" or "report". */
const char *dom_rule_mode_name(dom_rule_mode_t mode);
/** Parses "enforce" or "report". Errors: DOM_EINVAL. */
int dom_rule_mode_parse(const char *s, size_t len, dom_rule_mode_t *out);

/** "reject" or "next_region". */
const char *dom_on_unavailable_name(dom_on_unavailable_t v);
/** Parses "reject" or "next_region". Errors: DOM_EINVAL. */
int dom_on_unavailable_parse(const char *s, size_t len, dom_on_unavailable_t *out);

/** "intersect" or "override": what a pin naming another jurisdiction does (rule key `pins`). */
const char *dom_pins_mode_name(dom_pins_mode_t v);
/** Parses "intersect" or "override". Errors: DOM_EINVAL. */
int dom_pins_mode_parse(const char *s, size_t len, dom_pins_mode_t *out);

/** A class rule's consent mask (DOM_CONSENT_FOR_*): "none", "required" (writes), "read", "read_write"; "?" otherwise.
 */
const char *dom_consent_name(int required);
/** Parses the names dom_consent_name gives into the mask. Errors: DOM_EINVAL. */
int dom_consent_parse(const char *s, size_t len, int *required);

/** A class's body format: "any" or "json". */
const char *dom_body_format_name(dom_body_format_t format);
/** Parses "any" or "json". Errors: DOM_EINVAL. */
int dom_body_format_parse(const char *s, size_t len, dom_body_format_t *out);

/** What an anonymized body with an identity field gets: "refuse" or "scrub". */
const char *dom_identity_action_name(dom_identity_action_t action);
/** Parses "refuse" or "scrub". Errors: DOM_EINVAL. */
int dom_identity_action_parse(const char *s, size_t len, dom_identity_action_t *out);

/** "read" or "write": which list of a class rule applies. */
const char *dom_access_name(dom_access_t access);
/** Parses "read" or "write". Errors: DOM_EINVAL. */
int dom_access_parse(const char *s, size_t len, dom_access_t *out);

/** "subdivision", "country" or "group". */
const char *dom_rules_level_name(dom_rules_level_t level);
/** Parses "subdivision", "country" or "group". Errors: DOM_EINVAL. */
int dom_rules_level_parse(const char *s, size_t len, dom_rules_level_t *out);

/**
 * The name of one DOM_METHOD_* bit: "GET", "HEAD", "POST", "PUT", "PATCH", "DELETE",
 * "OPTIONS" or "OTHER" (every method not named); "?" for anything but a single bit.
 */
const char *dom_method_name(unsigned bit);

/**
 * Returns the DOM_METHOD_* bit of an HTTP method (case-sensitive, RFC 9110 9.1: "get" is
 * not GET); DOM_METHOD_OTHER for every other method, "OTHER" and NULL included.
 */
unsigned dom_method_bit(const char *method, size_t len);

/** Room for the longest text dom_methods_format() writes, NUL included. */
#define DOM_METHODS_TEXT_MAX 64

/**
 * Writes a method mask as text: "ALL" when every bit is set (DOM_METHOD_ALL), else the
 * names of its bits in bit order joined by "," ("GET,PUT"); "" for 0. Returns 0, or
 * DOM_ERANGE when it does not fit in len (DOM_METHODS_TEXT_MAX always does).
 */
int dom_methods_format(unsigned mask, char *out, size_t len);

/**
 * Parses dom_methods_format()'s text: "ALL", or one or more names ("OTHER" included)
 * joined by ",". Errors: DOM_EINVAL for an empty text, an empty or unknown name.
 */
int dom_methods_parse(const char *s, size_t len, unsigned *mask);

#endif
