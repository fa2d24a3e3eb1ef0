#!/usr/bin/env bash
# The main job: a pageserver serving a real Postgres database.
#
# Installs what is missing, builds the release preset, and on the first run
# creates the demo dataset: a PostgreSQL 15 cluster (initdb), filled by
# `pgbench -i -s $PS_DEMO_SCALE` (default 10, about 160 MB), stopped cleanly,
# then imported offline into a pageserver data directory with
# `pagectl import --pgdata`. Then it starts the pageserver in the foreground
# with the default config (server/pageserver.toml) on that data directory and
# prints how to query it. Ctrl-C (SIGINT) stops it cleanly.
#
# Environment: PS_DEMO_DIR (default build/demo), PS_DEMO_SCALE (default 10).
# Extra arguments go to the pageserver (e.g. -c virtual_file_io_mode=buffered).
set -euo pipefail
cd "$(dirname "$0")/.."

./scripts/install-deps.sh
cmake --preset release >/dev/null
cmake --build --preset release -j "$(nproc)" --target pageserver pagectl

demo=${PS_DEMO_DIR:-build/demo}
scale=${PS_DEMO_SCALE:-10}
pgbin=/usr/lib/postgresql/15/bin
pageserver=build/release/server/pageserver
pagectl=build/release/tools/pagectl/pagectl
tenant=11111111111111111111111111111111
timeline=22222222222222222222222222222222
mkdir -p "$demo"
demo=$(cd "$demo" && pwd)

# initdb refuses to run as root; Postgres then runs as the `postgres` user,
# in a directory that user can reach.
run_pg() {
  if [ "$(id -u)" -eq 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

make_dataset() {
  local pg port
  pg=$(mktemp -d /tmp/pageserver-demo-pg.XXXXXX)
  [ "$(id -u)" -eq 0 ] && chown postgres "$pg"
  port=$((40000 + RANDOM % 20000))
  echo "== demo dataset: initdb, pgbench -i -s ${scale}"
  run_pg "$pgbin/initdb" -D "$pg/data" -U postgres -A trust >"$pg/initdb.log"
  run_pg "$pgbin/pg_ctl" -D "$pg/data" -l "$pg/postgres.log" -w \
    -o "-p $port -k $pg -c listen_addresses=''" start >/dev/null
  run_pg "$pgbin/pgbench" -i -s "$scale" -q -h "$pg" -p "$port" -U postgres postgres
  run_pg "$pgbin/psql" -h "$pg" -p "$port" -U postgres -Atc \
    "select pg_relation_filepath('pgbench_accounts'), pg_relation_size('pgbench_accounts') / 8192" \
    postgres >"$demo/accounts.txt"
  run_pg "$pgbin/pg_ctl" -D "$pg/data" -m fast -w stop >/dev/null
  echo "== import into the pageserver data directory (pagectl import --pgdata)"
  rm -rf "$demo/pageserver_data"
  "$pagectl" import --pgdata "$pg/data" --data-dir "$demo/pageserver_data" \
    --tenant "$tenant" --timeline "$timeline"
  rm -rf "$pg"
  touch "$demo/imported"
}

[ -f "$demo/imported" ] || make_dataset

IFS='|' read -r accounts_path accounts_blocks <"$demo/accounts.txt"
# base/<db>/<relfilenode> -> 1663/<db>/<relfilenode>
rel="1663/$(echo "$accounts_path" | cut -d/ -f2)/$(echo "$accounts_path" | cut -d/ -f3)"
cat <<INFO

== pageserver: tenant $tenant, timeline $timeline (pgbench scale $scale)
Query it from another shell while it runs:
  $pagectl nblocks --tenant $tenant --timeline $timeline $rel      # pgbench_accounts: $accounts_blocks blocks
  $pagectl getpage --tenant $tenant --timeline $timeline $rel 0
  $pagectl timeline list --tenant $tenant
  curl -s http://127.0.0.1:9898/v1/status
  curl -s http://127.0.0.1:9898/metrics | grep ps_page_service
Ctrl-C stops it (checkpoint, exit 0).

INFO
exec "$pageserver" --config server/pageserver.toml -c "data_dir=\"$demo/pageserver_data\"" "$@"
