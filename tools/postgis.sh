#!/usr/bin/env bash
# A local PostgreSQL server with PostGIS, to try the PostGIS store as the README shows:
#   tools/postgis.sh start   install Debian's PostgreSQL and PostGIS where missing, make a
#                            cluster in build/postgis/, start it on 127.0.0.1 (port 5433, or
#                            TWIN_PG_PORT) with a database `twin`, and print a twin's URL
#   tools/postgis.sh stop    stop it (the cluster stays; `make clean` removes it)
# Every login from 127.0.0.1 is trusted: a server to try twin on, never one for a city's data.
set -euo pipefail
cd "$(dirname "$0")/.."
source tools/apt.sh
port=${TWIN_PG_PORT:-5433}
export PGOPTIONS="-c client_min_messages=warning"
dir=$PWD/build/postgis
as=()
[ "$(id -u)" -eq 0 ] && as=(runuser -u postgres --)  # PostgreSQL will not run as root

case "${1:-}" in
start)
  apt_install_postgis
  bin=/usr/lib/postgresql/$(ls /usr/lib/postgresql | sort -n | tail -1)/bin
  if [ ! -f "$dir/data/PG_VERSION" ]; then
    mkdir -p "$dir"
    [ ${#as[@]} -eq 0 ] || chown postgres "$dir"
    "${as[@]}" "$bin/initdb" -D "$dir/data" -U twin --auth=trust -E UTF8 --locale=C.UTF-8 >/dev/null
  fi
  "${as[@]}" "$bin/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w \
    -o "-h 127.0.0.1 -p $port -k $dir" start >/dev/null
  psql -q "postgresql://twin@127.0.0.1:$port/postgres" -tAc \
    "SELECT 1 FROM pg_database WHERE datname = 'twin'" | grep -q 1 ||
    psql -q "postgresql://twin@127.0.0.1:$port/postgres" -c "CREATE DATABASE twin"
  psql -q "postgresql://twin@127.0.0.1:$port/twin" -c "CREATE EXTENSION IF NOT EXISTS postgis"
  echo "PostgreSQL with PostGIS on 127.0.0.1:$port; a twin there:"
  echo "  postgresql://twin@127.0.0.1:$port/twin?schema=demo"
  ;;
stop)
  bin=/usr/lib/postgresql/$(ls /usr/lib/postgresql | sort -n | tail -1)/bin
  "${as[@]}" "$bin/pg_ctl" -D "$dir/data" -m fast stop
  ;;
*)
  echo "usage: tools/postgis.sh start|stop" >&2
  exit 2
  ;;
esac
