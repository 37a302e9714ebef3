#!/usr/bin/env bash
# Run every fuzz target in fuzz/ for a bounded time, one after the other, and print what each
# did (executions, corpus size, crashes). Each starts from the committed seeds (fuzz/seeds/,
# read only) and its working corpus (fuzz/corpus/, not committed). Needs a nightly toolchain
# and cargo-fuzz; without them it says so and exits 0: `cargo test --test fuzz_replay` runs the
# same targets over the seeds on stable.
#
#   .ci/fuzz.sh [SECONDS_PER_TARGET]
set -euo pipefail
cd "$(dirname "$0")/../fuzz"
seconds=${1:-20}

if ! cargo +nightly fuzz --version >/dev/null 2>&1; then
  echo "fuzz: no nightly toolchain with cargo-fuzz; skipped (cargo install cargo-fuzz --locked)"
  exit 0
fi
# The fuzz build has its own target directory; a CARGO_TARGET_DIR meant for the main build
# would mix sanitizer-coverage builds into it.
unset CARGO_TARGET_DIR
nice cargo +nightly fuzz build -s none

for target in $(cargo +nightly fuzz list); do
  log=$(mktemp)
  mkdir -p "corpus/$target"
  status=0
  nice cargo +nightly fuzz run -s none "$target" "corpus/$target" "seeds/$target" -- \
    -max_total_time="$seconds" -rss_limit_mb=2048 -timeout=10 -print_final_stats=1 >"$log" 2>&1 || status=$?
  runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
  corpus=$(find "corpus/$target" -type f | wc -l)
  echo "fuzz: $target ${seconds}s executions=${runs:-?} corpus=$corpus exit=$status"
  if [ "$status" -ne 0 ]; then
    grep -E 'panicked|ERROR|SUMMARY|Test unit written' "$log" | head -20
    rm -f "$log"
    exit "$status"
  fi
  rm -f "$log"
done
