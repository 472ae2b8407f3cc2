#!/usr/bin/env bash
# The Redis benchmark of BENCHMARKS.md ("Redis backends"): throughput and event→state latency
# of one node on memory, one node on Redis, two nodes on one Redis, in one run, plus
# redis-benchmark on the same server. Needs a release build and redis-server; starts and stops
# everything itself on free loopback ports. Usage: scripts/bench-redis.sh [seconds per run]
set -euo pipefail
cd "$(dirname "$0")/.."
SECS="${1:-20}"
BIN=target/release/classpulse
WORK="$(mktemp -d /tmp/classpulse-bench-redis.XXXXXX)"
PIDS=()
cleanup() { for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$WORK"; }
trap cleanup EXIT
free_port() { python3 -c 'import socket;s=socket.socket();s.bind(("127.0.0.1",0));print(s.getsockname()[1])'; }

RPORT="$(free_port)"
redis-server --port "$RPORT" --bind 127.0.0.1 --save "" --appendonly no --dir "$WORK" \
  --daemonize no --logfile "$WORK/redis.log" & PIDS+=($!)
until redis-cli -p "$RPORT" ping >/dev/null 2>&1; do sleep 0.1; done

# node NAME KVS(memory|redis): starts a node (stopped at exit); its address goes to $WORK/NAME.addr.
node() {
  local name=$1 kvs=$2 cfg="$WORK/$1.toml"
  {
    printf '[server]\nnode_id = "%s"\ndata_dir = "%s"\n[ingest]\nmax_events_per_second = 0\n' "$name" "$WORK/$name"
    if [ "$kvs" = redis ]; then
      printf '[kvs]\ntype = "redis"\nurl = "redis://127.0.0.1:%s"\nprefix = "bench"\n' "$RPORT"
      printf '[pubsub]\ntype = "redis"\nurl = "redis://127.0.0.1:%s"\nprefix = "bench"\n' "$RPORT"
    fi
  } > "$cfg"
  RUST_LOG=warn "$BIN" --config "$cfg" serve --bind 127.0.0.1:0 > "$WORK/$name.out" 2> "$WORK/$name.err" &
  PIDS+=($!)
  until grep -q "listening on" "$WORK/$name.out" 2>/dev/null; do sleep 0.1; done
  sed -n 's/.*listening on http:\/\/\([^ ]*\).*/\1/p' "$WORK/$name.out" > "$WORK/$name.addr"
}
addr() { cat "$WORK/$1.addr"; }

# load ADDR STUDENTS PREFIX -> JSON lines from simulate
load() {
  "$BIN" simulate --url "ws://$1/wsapi/in/" --students "$2" --user-prefix "$3" \
    --chars 4000 --rate 0 --batch 32 --duration "$SECS" --state-probe --json
}

echo "== memory, one node"
node mem memory; load "$(addr mem)" 100 m-
echo "== redis, one node"
node r1 redis; load "$(addr r1)" 100 r-
echo "== redis, two nodes (50 students each, concurrently)"
node r2a redis; node r2b redis
load "$(addr r2a)" 50 a- > "$WORK/a.json" & LA=$!
load "$(addr r2b)" 50 b- > "$WORK/b.json" & LB=$!
wait $LA $LB; cat "$WORK/a.json" "$WORK/b.json"
echo "== redis-benchmark on the same server (50 clients; pipelined 32)"
redis-benchmark -p "$RPORT" -q -n 200000 -t set,get,hset | tr '\r' '\n' | grep "per second"
redis-benchmark -p "$RPORT" -q -n 1000000 -P 32 -t set,get,hset | tr '\r' '\n' | grep "per second"
