#!/usr/bin/env bash
# make fuzz: runs each libFuzzer target for a bounded time.
#   scripts/fuzz.sh BUILD_DIR SECONDS TARGET...
# Each target reads the seeds fuzz_seeds writes (its valid replies, every
# field set, each field alone) and keeps what it finds in
# BUILD_DIR/fuzz/corpus/<target> (kept between runs). A crash, a sanitizer
# report, a timeout or an out-of-memory is a finding: its input is left in
# BUILD_DIR/fuzz/<target>-crash-* and the run fails.
set -euo pipefail
b=$1
secs=$2
shift 2
seeds=$b/fuzz/seeds
rm -rf "$seeds"
"$b/fuzz/fuzz_seeds" "$seeds"
t0=$(date +%s)
fail=0
for t in "$@"; do
  mkdir -p "$b/fuzz/corpus/$t"
  log=$b/fuzz/$t.log
  if "$b/fuzz/fuzz_$t" -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
      -artifact_prefix="$b/fuzz/$t-" "$b/fuzz/corpus/$t" "$seeds/$t" >"$log" 2>&1; then
    runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log")
    echo "fuzz_$t: ${runs:-?} inputs in $secs s, corpus $(ls "$b/fuzz/corpus/$t" | wc -l), no finding"
  else
    echo "fuzz_$t: FINDING (log: $log)"
    tail -n 40 "$log"
    fail=1
  fi
done
echo "fuzz: $# targets in $(( $(date +%s) - t0 )) s"
exit $fail
