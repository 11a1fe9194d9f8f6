#!/usr/bin/env bash
# The stress check: the browser suite RUNS times in a row (default 5) while two busy loops keep
# both cores of the machine busy, as CI's slower moments do. Stops at the first failure and says
# which run it was. Needs what `cargo xtask test` built (it runs the suite once itself).
set -euo pipefail
cd "$(dirname "$0")/.."
runs="${1:-5}"
busy=()
stop_busy() { for pid in "${busy[@]}"; do kill "$pid" 2>/dev/null || true; done; }
trap stop_busy EXIT
for _ in 1 2; do
  ( while :; do :; done ) &
  busy+=("$!")
done
for run in $(seq 1 "$runs"); do
  started=$(date +%s)
  if ! node --test --test-reporter=spec --test-concurrency=1 tests/browser/; then
    echo "stress check: run $run of $runs failed under load" >&2
    exit 1
  fi
  echo "stress check: run $run of $runs passed under load in $(( $(date +%s) - started )) s"
done
echo "stress check: $runs of $runs runs passed under load"
