#!/bin/sh
# bench/scale.sh: only the scaling measurements of bench/run (proxies at 1 and 2 worker threads,
# and the decision cost over geo databases of 10k/100k/1M networks x 10/100/1000 jurisdictions).
# Writes bench/results/scale.md. Extra arguments go to bench/run (e.g. --duration 2).
exec "$(dirname "$0")/run" --scale-only "$@"
