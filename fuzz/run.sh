#!/usr/bin/env bash
# Build the libFuzzer harnesses in build-fuzz (clang, AddressSanitizer + UBSan) and run each one
# for SECONDS, one after the other (fuzz/README.md):
#   bash fuzz/run.sh SECONDS [catalog data fits weights]
# The seed corpus fuzz/corpus/<name> is only read; new inputs go to build-fuzz/fuzz-corpus/<name>
# (kept between runs). A crash, leak, timeout, out-of-memory or sanitizer report is a finding: its
# input is kept as build-fuzz/fuzz-findings/<name>/{crash,leak,timeout,oom}-*, printed in base64,
# and the script exits 1 after the other harnesses have run (a run clears its harness's findings). Exit 3: clang cannot link libFuzzer
# (scripts/setup.sh installs clang and libclang-rt-dev). DC_FUZZ_FLAGS: more libFuzzer flags.
set -euo pipefail
cd "$(dirname "$0")/.."
secs=${1:?usage: bash fuzz/run.sh SECONDS [harness ...]}
shift
harnesses=("$@")
[ ${#harnesses[@]} -gt 0 ] || harnesses=(catalog data fits weights)
cc=${DC_FUZZ_CC:-clang}

probe=$(mktemp -d)
trap 'rm -rf "$probe"' EXIT
printf '#include <stdint.h>\n#include <stddef.h>\nint LLVMFuzzerTestOneInput(const uint8_t *d, size_t n) { (void)d; (void)n; return 0; }\n' \
  > "$probe/p.c"
if ! "$cc" -fsanitize=fuzzer,address,undefined "$probe/p.c" -o "$probe/p" >"$probe/log" 2>&1; then
  echo "fuzz: $cc cannot link a libFuzzer harness (apt-get install clang libclang-rt-dev):" >&2
  cat "$probe/log" >&2
  exit 3
fi

jobs=$(nproc 2>/dev/null || echo 2)
cmake -S . -B build-fuzz -DCMAKE_C_COMPILER="$cc" -DDC_FUZZ=ON -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
targets=()
for h in "${harnesses[@]}"; do targets+=("fuzz_$h"); done
cmake --build build-fuzz -j"$jobs" --target "${targets[@]}"

found=0
for h in "${harnesses[@]}"; do
  new=build-fuzz/fuzz-corpus/$h
  art=build-fuzz/fuzz-findings/$h
  log=build-fuzz/fuzz-$h.log
  rm -rf "$art"                                  # the previous run's findings
  mkdir -p "$new" "$art"
  t0=$(date +%s)
  rc=0
  UBSAN_OPTIONS=print_stacktrace=1 build-fuzz/fuzz_"$h" -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 \
    -print_final_stats=1 -artifact_prefix="$art/" ${DC_FUZZ_FLAGS:-} "$new" fuzz/corpus/"$h" >"$log" 2>&1 || rc=$?
  wall=$(( $(date +%s) - t0 ))
  execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
  last=$(grep -E '^#[0-9]+' "$log" | tail -1 | grep -oE 'cov: [0-9]+ ft: [0-9]+' || true)
  echo "fuzz_$h: ${wall} s, ${execs:-?} executions ($(( ${execs:-0} / (wall > 0 ? wall : 1) ))/s), ${last:-no coverage line}, exit $rc"
  findings=$(find "$art" -type f | sort)
  if [ "$rc" -ne 0 ] || [ -n "$findings" ]; then
    found=1
    echo "fuzz_$h: FINDING (exit $rc); the end of $log:"
    tail -60 "$log"
    for f in $findings; do
      echo "fuzz_$h: input $f ($(stat -c %s "$f") bytes), base64 (replay: base64 -d > x; build/fuzz_replay_$h x):"
      head -c 65536 "$f" | base64
    done
  fi
done
exit "$found"
