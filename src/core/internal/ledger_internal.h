/*
 * The ledger's half that writes (dom__ names): called by the compiler inside its write
 * transaction (src/rules/rules_compile.c), implemented beside the reader in
 * src/core/ledger.c so the two share one record layout. See docs/internals/ledger.md.
 */
#ifndef DOM_LEDGER_INTERNAL_H
#define DOM_LEDGER_INTERNAL_H

#include <stddef.h>
#include <stdint.h>
#include <lmdb.h>
#include "domicile/ledger.h"

/** The LMDB names of the ledger's two tables (never emptied by a compile). */
#define DOM__LEDGER_VERSIONS "ledger_versions"
#define DOM__LEDGER_COMPILES "ledger_compiles"

/**
 * Inside the compile's write transaction: adds `carry`'s entries (may be NULL) to the ledger the file already
 * holds, refuses (DOM_ERULES, message in err) a version of rs whose (jurisdiction, version) the ledger holds with
 * another hash, then adds rs's new versions and one compile record (seq = the last + 1). rs must have its hashes
 * (dom_ruleset_compute_hashes). Returns 0, DOM_ERULES, DOM_ENOMEM, or an LMDB error code (> 0; MDB_MAP_FULL means
 * grow and retry) with the stage in err.
 */
int dom__ledger_write(MDB_txn *txn, const dom_ledger_t *carry, const dom_ruleset_t *rs, const char *source_rev,
                      uint64_t generation, char *err, size_t errlen);

#endif
