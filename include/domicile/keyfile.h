/*
 * Files that hold secrets: pin keys, consent keys, the audit log's hash key, the admin
 * listener's bearer token. Whoever can replace such a file can mint pins, forge consent or
 * read the admin endpoints; whoever can read it learns the secret. One check for all of them,
 * made at start and at every reload by the gateway and by the CLI commands that read them.
 */
#ifndef DOMICILE_KEYFILE_H
#define DOMICILE_KEYFILE_H

#include <stddef.h>
#include "domicile/common.h"

/** dom_keyfile_check's result for a file that may be used but that every user can read (msg is the warning). */
#define DOM_KEYFILE_WARNING 1

/**
 * Checks the permissions of a file that holds secrets (following symbolic links: the file that
 * will be read). `what` names it in msg ("pin keys", "audit.hash_key_file"); msg (may be NULL)
 * gets one sentence naming the file, its mode and the chmod that fixes it, "" when all is well.
 *
 * Returns DOM_OK for a regular file no other user can write or read (0600, 0640, 0400, 0440: a
 * group that only reads is how a service account is given a root-owned secret);
 * DOM_KEYFILE_WARNING when every user can read it (e.g. 0644): the file may be used, warn;
 * DOM_EINVAL when the group or every user can write it (0660, 0666, 0602, ...) or it is not a
 * regular file: it must be refused, anyone allowed to write it can replace the secret;
 * DOM_EIO when it cannot be stat'ed (msg says why; loading the file reports the same).
 */
int dom_keyfile_check(const char *what, const char *path, char *msg, size_t msglen);

#endif
