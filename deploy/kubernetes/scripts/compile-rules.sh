#!/bin/sh
# The rules-compiler sidecar (and, with ONCE=1, the rules-init container): compiles the rule files of the
# domicile-rules ConfigMap into the volume the gateway reads, by rename, whenever their content changes (the
# kubelet swaps a ConfigMap volume's files in place). Files that do not check are not compiled: the rules in use
# stay (an init container fails instead, so a pod never starts without rules).
set -eu
SRC=${RULES_SRC:-/etc/domicile/regions}
DEST=${RULES_DEST:-/var/lib/domicile/rules/rules.mdb}
POLL=${RULES_POLL:-5}
last=""
while :; do
    sum=$(find -L "$SRC" -maxdepth 1 -type f -name '*.yaml' | LC_ALL=C sort | xargs cat | sha256sum | cut -d' ' -f1)
    if [ "$sum" != "$last" ]; then
        # carry the ledger of every rule version compiled so far into the new file (rules history, audit verify)
        set --
        [ -f "$DEST" ] && set -- --ledger-from "$DEST"
        if domicile rules compile "$SRC" -o "$DEST.new" "$@"; then
            mv -f "$DEST.new" "$DEST"
            echo "compile-rules: $(date -u +%Y-%m-%dT%H:%M:%SZ) rule files $sum compiled into $DEST"
        else
            rm -f "$DEST.new"
            echo "compile-rules: the rule files ($sum) do not check: the rules in use stay" >&2
            [ "${ONCE:-0}" = 1 ] && exit 1
        fi
        last=$sum
    fi
    [ "${ONCE:-0}" = 1 ] && exit 0
    sleep "$POLL"
done
