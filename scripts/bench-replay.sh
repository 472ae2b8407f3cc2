#!/usr/bin/env bash
# The replay benchmark (BENCHMARKS.md): a log of >= 1,000,000 writing events made by
# `classpulse simulate` against a release server (1,000 students, keystrokes and a
# google_docs_save every 4 characters, every shipped reducer, memory store), then
#   - `classpulse replay` of that log (into a snapshot file), RUNS times;
#   - start-up of `classpulse serve` on that log without a snapshot and with one, RUNS times.
# Needs a release build (`cargo build --release --bin classpulse`). Prints every run and
# the medians.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${BIN:-./target/release/classpulse}
RUNS=${RUNS:-5}
PORT=${PORT:-18891}
STUDENTS=${STUDENTS:-1000}
STARTUP=
CHARS=${CHARS:-800}
WORK=$(mktemp -d /tmp/classpulse-bench-replay.XXXXXX)
SPID=
trap '[ -n "$SPID" ] && kill "$SPID" 2>/dev/null; rm -rf "$WORK"' EXIT
DATA="$WORK/data"
CFG="$WORK/config.toml"
# Snapshots only when asked: start-up is measured from the log alone first.
printf '[server]\ndata_dir = "%s"\n[ingest]\nmax_events_per_second = 0\n[log]\nfsync = false\n[snapshot]\ninterval_secs = 0\non_shutdown = false\n' \
  "$DATA" > "$CFG"

median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
now() { date +%s.%N; }

# Starts the server; sets STARTUP to the seconds until /healthz answers.
start_server() {
  local t0; t0=$(now)
  "$BIN" --config "$CFG" serve --bind "127.0.0.1:$PORT" > /dev/null 2> "$WORK/server.log" &
  SPID=$!
  for _ in $(seq 3000); do
    if curl -fs "127.0.0.1:$PORT/healthz" > /dev/null 2>&1; then
      STARTUP=$(echo "$(now) - $t0" | bc -l | cut -c1-6)
      return
    fi
    sleep 0.02
  done
  echo "server did not start" >&2; cat "$WORK/server.log" >&2; exit 1
}
stop_server() { kill -TERM "$SPID"; wait "$SPID" 2>/dev/null || true; SPID=; }

echo "# $(date -u +%F) $(nproc) cores, $(git rev-parse --short HEAD)"
start_server
"$BIN" simulate --url "ws://127.0.0.1:$PORT/wsapi/in/" --students "$STUDENTS" --chars "$CHARS" \
  --rate 0 --batch 32 --save-every 4 --window 256 --json > "$WORK/simulate.json" 2>/dev/null
stop_server
EVENTS=$(cat "$DATA"/log/*.jsonl | wc -l)
echo "log: $EVENTS events, $(du -sh "$DATA/log" | cut -f1)"

rates=()
for i in $(seq "$RUNS"); do
  out=$("$BIN" --config "$CFG" replay --out "$WORK/replayed.json" 2>/dev/null)
  rate=$(echo "$out" | awk '/^replayed/ {print $(NF-1)}')
  secs=$(echo "$out" | awk '/^replayed/ {print $(NF-3)}')
  echo "  replay run $i: $rate events/s ($secs s)"
  rates+=("$rate")
done
echo "replay: median $(printf '%s\n' "${rates[@]}" | median) events/s"

times=()
for i in $(seq "$RUNS"); do
  start_server; stop_server
  echo "  start-up without a snapshot, run $i: $STARTUP s"
  times+=("$STARTUP")
done
echo "start-up without a snapshot: median $(printf '%s\n' "${times[@]}" | median) s"

"$BIN" --config "$CFG" snapshot > "$WORK/snapshot.txt"
echo "snapshot: $(du -h "$DATA"/snapshots/*.json | cut -f1) ($(cat "$WORK/snapshot.txt"))"
times=()
for i in $(seq "$RUNS"); do
  start_server; stop_server
  echo "  start-up with a snapshot, run $i: $STARTUP s"
  times+=("$STARTUP")
done
echo "start-up with a snapshot: median $(printf '%s\n' "${times[@]}" | median) s"
