#!/usr/bin/env bash
# Side-by-side comparison of two builds on one `classpulse simulate` scenario: runs them
# alternately, three times each, a fresh server per run, and prints events/s and ack p99.
# On a shared, noisy machine a ratio is only meaningful when measured like this.
#
#   scripts/bench-ab.sh OLD_BINARY NEW_BINARY --students 100 --chars 6000 --rate 0 \
#       --batch 32 --save-every 4 --window 256
set -euo pipefail
A=$1; B=$2; shift 2
PORT=${PORT:-18893}
for i in 1 2 3; do
  for BIN in "$A" "$B"; do
    D=$(mktemp -d /tmp/classpulse-ab.XXXXXX)
    printf '[server]\ndata_dir = "%s/data"\n[ingest]\nmax_events_per_second = 0\n' "$D" > "$D/config.toml"
    "$BIN" --config "$D/config.toml" serve --bind "127.0.0.1:$PORT" > /dev/null 2> "$D/server.log" &
    S=$!
    for _ in $(seq 50); do curl -fs "127.0.0.1:$PORT/healthz" > /dev/null 2>&1 && break; sleep 0.1; done
    R=$("$BIN" simulate --url "ws://127.0.0.1:$PORT/wsapi/in/" --json "$@" 2>/dev/null |
      python3 -c 'import json,sys; d=json.load(sys.stdin); print(round(d["events_per_second"]), "events/s, ack p99", d["ack_latency_ms"]["p99"], "ms")')
    kill -TERM "$S"; wait "$S" 2>/dev/null || true
    rm -rf "$D"
    echo "run $i $BIN: $R"
  done
done
