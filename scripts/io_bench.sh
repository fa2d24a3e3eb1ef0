#!/usr/bin/env bash
# Builds the release preset and runs the IO benchmark (io_bench) on a scratch file, side by side with
# fio. Arguments replace the short default run and go to io_bench (see
# `build/release/bench/io_bench --help`); --file and --size may be overridden too.
set -euo pipefail
cd "$(dirname "$0")/.."

./scripts/install-deps.sh
cmake --preset release >/dev/null
cmake --build --preset release -j "$(nproc)" --target io_bench
mkdir -p build/scratch
# Without arguments: a short run (2 s per case, queue depths 1 and 32).
if [ $# -eq 0 ]; then set -- --seconds 2 --qd 1,32; fi
exec build/release/bench/io_bench --file build/scratch/io_bench.scratch --size 1G "$@"
