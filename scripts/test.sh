#!/usr/bin/env bash
# Runs every test: installs dependencies, builds the debug preset (ASan +
# UBSan) with g++ and runs its tests, builds everything with clang 14 under
# ThreadSanitizer (warnings are errors) and runs the tests again, runs the
# benchmark suite's smoke configuration on the tsan binaries (every section,
# tiny dataset, ~1 s runs: the suite cannot rot), and runs the libFuzzer
# targets briefly.
# Ends with ctest's summary lines. Usage: scripts/test.sh [--quick] (debug only)
set -euo pipefail
cd "$(dirname "$0")/.."

start=$(date +%s)
# Each phase's header carries the minutes since the start (CI must stay under 30).
elapsed() {
  local t=$(($(date +%s) - start))
  echo "$((t / 60))m$((t % 60))s"
}
./scripts/install-deps.sh
echo "== dependencies ready at $(elapsed)"
# ccache (CMakeLists.txt uses it when installed), shared by every clone on
# this machine: paths under the checkout are hashed relative to it and the
# build directory is not hashed, so a clean clone of a commit already built
# here compiles from the cache. A cold cache (a fresh machine) roughly
# doubles the run.
export CCACHE_BASEDIR="$PWD"
export CCACHE_NOHASHDIR=1
export CCACHE_DIR="${CCACHE_DIR:-/var/tmp/pageserver-ccache}"
export CCACHE_MAXSIZE="${CCACHE_MAXSIZE:-10G}"
if ! mkdir -p "$CCACHE_DIR" 2>/dev/null || [ ! -w "$CCACHE_DIR" ]; then
  echo "== ccache: $CCACHE_DIR is not writable; compiling without the cache"
  export CCACHE_DISABLE=1
fi
jobs=$(nproc)

run_preset() {
  local preset=$1
  echo "== ${preset}: configure and build ($(elapsed))"
  cmake --preset "${preset}" >/dev/null
  cmake --build --preset "${preset}" -j "${jobs}"
  echo "== ${preset}: test ($(elapsed))"
  ctest --preset "${preset}" -j "${jobs}" 2>&1 | tee "build/${preset}/ctest.log" | grep -vE '^ *(Start +[0-9]+:|[0-9]+/[0-9]+ Test +#[0-9]+: .* Passed)' || true
  grep -q "100% tests passed" "build/${preset}/ctest.log"
}

summary=()
run_preset debug
summary+=("debug (g++, ASan+UBSan): $(grep -E 'tests passed' build/debug/ctest.log)")
if [ "${1:-}" != "--quick" ]; then
  # The tsan preset builds with clang 14, every target (tests and
  # benchmarks), warnings as errors: it is also the clang build check.
  run_preset tsan
  summary+=("tsan (clang 14, every target warning-free): $(grep -E 'tests passed' build/tsan/ctest.log)")
  echo "== benchmark suite, smoke configuration (tsan binaries) ($(elapsed))"
  rm -rf build/bench-smoke
  python3 bench/suite/run_suite.py --smoke --build-dir build/tsan --out build/bench-smoke \
    --dataset-dir build/bench-smoke-data >build/bench-smoke.log 2>&1 ||
    { tail -40 build/bench-smoke.log; exit 1; }
  summary+=("bench suite smoke: every section ran, $(($(wc -l <build/bench-smoke/results.csv) - 1)) result rows")
  echo "== fuzz targets (clang 14, libFuzzer, ASan+UBSan) ($(elapsed))"
  ./scripts/fuzz.sh --seconds 10
  summary+=("fuzz: layer summary, B-tree node, blob, pgwire, pagestream and ingest decoders, 10 s each, no findings")
fi
echo
echo "== summary (total $(elapsed))"
printf '%s\n' "${summary[@]}"
