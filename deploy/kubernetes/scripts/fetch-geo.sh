#!/bin/sh
# The geo-updater sidecar (and, with ONCE=1, the geo-init container): fetches the geo database from GEO_URL (the
# fleet's mirror, filled by one geoipupdate job) when it is newer than the one in use, checks that domicile can use
# it, and renames it into the volume the gateway reads. The gateway checks it again before swapping it in.
set -eu
URL=${GEO_URL:?set GEO_URL to where the fleet publishes its geo database}
DEST=${GEO_DEST:-/var/lib/domicile/geo/geo.mmdb}
RULES=${RULES_DB:-/var/lib/domicile/rules/rules.mdb}
POLL=${GEO_POLL:-3600}
while :; do
    rm -f "$DEST.new"
    if [ -f "$DEST" ]; then
        fetched=$(curl -fsS --max-time 600 -R -z "$DEST" -o "$DEST.new" -w '%{http_code}' "$URL" || echo failed)
    else
        fetched=$(curl -fsS --max-time 600 -R -o "$DEST.new" -w '%{http_code}' "$URL" || echo failed)
    fi
    if [ -s "$DEST.new" ]; then
        if domicile explain --geo-db "$DEST.new" --rules "$RULES" --ip 192.0.2.1 >/dev/null; then
            mv -f "$DEST.new" "$DEST"
            echo "fetch-geo: $(date -u +%Y-%m-%dT%H:%M:%SZ) new geo database from $URL ($fetched)"
        else
            echo "fetch-geo: the file from $URL is not a usable geo database: keeping the one in use" >&2
            [ "${ONCE:-0}" = 1 ] && exit 1
        fi
    elif [ ! -f "$DEST" ]; then
        echo "fetch-geo: no geo database from $URL ($fetched)" >&2
        [ "${ONCE:-0}" = 1 ] && exit 1
    fi
    rm -f "$DEST.new"
    [ "${ONCE:-0}" = 1 ] && exit 0
    sleep "$POLL"
done
