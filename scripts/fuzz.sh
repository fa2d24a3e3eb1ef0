#!/usr/bin/env bash
# Builds the libFuzzer targets (fuzz preset: clang 14, ASan + UBSan) and runs
# each for a while. The corpus grows in build/fuzz/corpus/<target> across runs.
# Usage: scripts/fuzz.sh [--seconds N] [target ...]   (default 10 s, all targets)
set -euo pipefail
cd "$(dirname "$0")/.."

seconds=10
targets=()
while [ $# -gt 0 ]; do
  case "$1" in
    --seconds) seconds=$2; shift 2 ;;
    *) targets+=("$1"); shift ;;
  esac
done
# Default: every target listed in fuzz/CMakeLists.txt's PS_FUZZ_TARGETS.
if [ ${#targets[@]} -eq 0 ]; then
  read -r -a targets <<<"$(awk '/^set\(PS_FUZZ_TARGETS/ {on = 1} on {print; if (/\)/) exit}' \
    fuzz/CMakeLists.txt | tr -d '()' | sed 's/set//; s/PS_FUZZ_TARGETS//' | tr -s ' \n' ' ')"
fi

cmake --preset fuzz >/dev/null
cmake --build --preset fuzz -j "$(nproc)"
for t in "${targets[@]}"; do
  corpus="build/fuzz/corpus/${t}"
  mkdir -p "${corpus}"
  echo "== ${t}: ${seconds} s"
  ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
    "build/fuzz/fuzz/${t}" -max_total_time="${seconds}" -print_final_stats=1 \
    -artifact_prefix="build/fuzz/${t}-" "${corpus}" 2>&1 | grep -E '^(stat::number_of_executed_units|stat::new_units_added|==|SUMMARY)' || true
  # libFuzzer exits non-zero and leaves a crash-* artifact on a finding.
  if ls "build/fuzz/${t}-"* >/dev/null 2>&1; then
    echo "fuzz: ${t} found a crash: $(ls build/fuzz/${t}-*)" >&2
    exit 1
  fi
done
echo "fuzz: ${#targets[@]} targets ran ${seconds} s each without findings"
