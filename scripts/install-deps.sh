#!/usr/bin/env bash
# Installs every build, test and benchmark dependency from Debian 12 packages.
# Idempotent: packages already present are skipped. Works as root or through sudo.
set -euo pipefail

packages=(
  build-essential cmake ninja-build pkg-config g++ clang clang-format clang-tidy
  libclang-rt-14-dev
  liburing-dev libspdlog-dev libfmt-dev libjemalloc-dev libboost-dev
  libgtest-dev libgmock-dev libbenchmark-dev
  fio libcli11-dev nlohmann-json3-dev
  libisal-dev libzstd-dev
  libtomlplusplus-dev libcpp-httplib-dev libpq-dev postgresql postgresql-contrib
  librocksdb-dev liblmdb-dev gnuplot-nox python3 ccache
)

missing=()
for p in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done

if [ ${#missing[@]} -eq 0 ]; then
  echo "install-deps: all ${#packages[@]} packages present"
  exit 0
fi

if [ "$(id -u)" -eq 0 ]; then
  sudo_cmd=()
elif command -v sudo >/dev/null 2>&1; then
  sudo_cmd=(sudo)
else
  echo "install-deps: need root or sudo to install: ${missing[*]}" >&2
  exit 1
fi

echo "install-deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
"${sudo_cmd[@]}" apt-get update -qq
"${sudo_cmd[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
echo "install-deps: done"
