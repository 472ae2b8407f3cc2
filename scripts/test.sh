#!/usr/bin/env bash
# Runs ClassPulse's whole test suite on a fresh Debian machine, installing what the tests need
# when it is missing (run as root): the checks CI runs, in the order a failure is cheapest.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$HOME/.cargo/bin:$PATH"
export CI="${CI:-true}"
# A clean clone builds once: incremental caches would only cost disk and time.
export CARGO_INCREMENTAL="${CARGO_INCREMENTAL:-0}"

# Debian packages the tests use, by the command that shows they are there.
declare -A NEEDS=(
  [redis-server]=redis-server     # the Redis backend's tests (redis-cli comes with it)
  [chromium]=chromium             # the browser test (tests/browser.rs), headless
  [npm]=npm                       # the browser test fetches axe-core (pinned) into target/
)
missing=()
for cmd in "${!NEEDS[@]}"; do
  command -v "$cmd" >/dev/null 2>&1 || missing+=("${NEEDS[$cmd]}")
done
if ((${#missing[@]})); then
  echo "installing: ${missing[*]}"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

cargo fmt --all --check
cargo clippy --workspace --all-targets --locked -- -D warnings
cargo test --workspace --all-targets --locked
cargo test --workspace --doc --locked
echo "all tests passed"
