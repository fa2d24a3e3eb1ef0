#!/usr/bin/env bash
# The benchmark suite (BENCHMARKS.md, RFC.md "Benchmarks"): installs what is
# missing, builds the release preset's daemon, tools and peer benchmark, and
# runs bench/suite/run_suite.py, which prepares the dataset (pgbench
# -i -s 100 imported with pagectl, built once under $PS_BENCH_DIR, default
# /var/tmp/pageserver-bench) and writes bench/results/<timestamp>/:
# results.csv, summary.md and SVG plots.
#
# Needs root for the memory cgroup that enforces the budget (without it the
# confined sections run unconfined and the summary says so). Takes about
# 30 minutes with the defaults. Arguments go to run_suite.py, e.g.
#   scripts/bench.sh --sections sweep,noisy --budget 1GiB
#   scripts/bench.sh --smoke          # seconds: checks the pipeline only
set -euo pipefail
cd "$(dirname "$0")/.."

./scripts/install-deps.sh
cmake --preset release >/dev/null
cmake --build --preset release -j "$(nproc)" --target pageserver pagectl pagebench peer_bench
exec python3 bench/suite/run_suite.py --build-dir build/release "$@"
