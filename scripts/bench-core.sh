#!/usr/bin/env bash
# The core's and the writing module's end-to-end benchmarks (BENCHMARKS.md), each run RUNS
# times; prints every run and the median. Needs a release build (`cargo build --release`).
# The server and the generator share this machine's cores, as the issue's bar says.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${BIN:-./target/release/classpulse}
RUNS=${RUNS:-5}
PORT=${PORT:-18890}
DATA=$(mktemp -d /tmp/classpulse-bench.XXXXXX)
trap 'rm -rf "$DATA"' EXIT

serve() { # serve CONFIG_EXTRA...: starts a fresh server, sets SPID
  rm -rf "$DATA"/*
  local cfg="$DATA/config.toml"
  printf '[server]\ndata_dir = "%s/data"\n[ingest]\nmax_events_per_second = 0\n%s\n' "$DATA" "$1" > "$cfg"
  "$BIN" --config "$cfg" serve --bind "127.0.0.1:$PORT" > /dev/null 2> "$DATA/server.log" &
  SPID=$!
  for _ in $(seq 50); do curl -fs "127.0.0.1:$PORT/healthz" > /dev/null 2>&1 && return; sleep 0.1; done
  echo "server did not start"; cat "$DATA/server.log"; exit 1
}
cpu() { awk '{print $14 + $15}' "/proc/$1/stat"; }

run() { # run NAME "SERVER_CONFIG" SIMULATE_ARGS...
  local name=$1 extra=$2; shift 2
  local rates=()
  for i in $(seq "$RUNS"); do
    serve "$extra"
    local c0; c0=$(cpu "$SPID")
    local out; out=$("$BIN" simulate --url "ws://127.0.0.1:$PORT/wsapi/in/" --json "$@" 2>/dev/null)
    local c1; c1=$(cpu "$SPID")
    kill -TERM "$SPID"; wait "$SPID" 2>/dev/null || true
    local rate p50 p99 secs
    rate=$(echo "$out" | python3 -c 'import json,sys; d=json.load(sys.stdin); print(round(d["events_per_second"]))')
    p50=$(echo "$out" | python3 -c 'import json,sys; d=json.load(sys.stdin); print(d["ack_latency_ms"]["p50"])')
    p99=$(echo "$out" | python3 -c 'import json,sys; d=json.load(sys.stdin); print(d["ack_latency_ms"]["p99"])')
    secs=$(echo "$out" | python3 -c 'import json,sys; d=json.load(sys.stdin); print(d["seconds"])')
    echo "  $name run $i: $rate events/s, ack p50 ${p50} ms p99 ${p99} ms, server CPU $(echo "($c1 - $c0) / 100 / $secs" | bc -l | cut -c1-4) cores"
    rates+=("$rate")
  done
  echo "$name: median $(printf '%s\n' "${rates[@]}" | sort -n | sed -n "$(( (RUNS + 1) / 2 ))p") events/s"
}

echo "# $(date -u +%F) $(nproc) cores, $(git rev-parse --short HEAD)"
run "100 connections, 32 frames/flush, fdatasync on" "" \
  --students 100 --chars 4000 --rate 0 --batch 32 --save-every 4 --window 256
run "100 connections, 32 frames/flush, fdatasync off" "[log]
fsync = false" --students 100 --chars 4000 --rate 0 --batch 32 --save-every 4 --window 256
run "100 connections, 1 frame/flush, fdatasync on" "" \
  --students 100 --chars 1000 --rate 0 --batch 1 --save-every 4 --window 256
run "1,000 connections, 32 frames/flush, fdatasync on" "" \
  --students 1000 --chars 200 --rate 0 --batch 32 --save-every 4 --window 256
run "writing: one connection, 10,000 chars, one save per char" "" \
  --students 1 --chars 10000 --rate 0 --batch 32 --save-every 1 --keystrokes false --window 8192

# Memory per idle connection: 10,000 authenticated sockets that send nothing.
serve ""
r0=$(awk '/VmRSS/ {print $2}' "/proc/$SPID/status")
"$BIN" simulate --url "ws://127.0.0.1:$PORT/wsapi/in/" --idle --students 10000 --duration 20 --threads 1 > /dev/null 2>&1 &
GEN=$!
sleep 15
r1=$(awk '/VmRSS/ {print $2}' "/proc/$SPID/status")
wait "$GEN" || true
kill -TERM "$SPID"; wait "$SPID" 2>/dev/null || true
echo "idle: server RSS ${r0} KiB -> ${r1} KiB with 10,000 idle connections: $(( (r1 - r0) * 1024 / 10000 )) bytes each"
