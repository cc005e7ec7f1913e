#!/bin/bash
# Entrypoint of the dm-postgres:15 test image (built by tests/images/build).
#
# A small stand-in for the official postgres image's entrypoint, enough for
# the dokku-migrations tests:
#   POSTGRES_PASSWORD  required; password of the superuser "postgres"
#   POSTGRES_DB        database created on first start (default: postgres)
#   POSTGRES_USER      only "postgres" is supported
#   PGDATA             data directory (default: /var/lib/postgresql/data)
# First start: initdb, then `local` connections are trusted and `host`
# connections need the password (scram-sha-256), listen on 0.0.0.0:5432,
# create POSTGRES_DB, run /docker-entrypoint-initdb.d/*.sql|*.sh.
# The init steps run against a socket-only server, so
# `pg_isready -h 127.0.0.1` only succeeds once the real server is up.
# Then postgres runs in the foreground as the user postgres (this script stays
# PID 1 and turns docker stop's SIGTERM into a fast shutdown).
set -Eeuo pipefail

log() { printf '%s [dm-postgres] %s\n' "$(date -u +%FT%TZ)" "$*" >&2; }
as_postgres() { setpriv --reuid=postgres --regid=postgres --init-groups -- "$@"; }

# `docker run IMAGE -c foo=bar` means `postgres -c foo=bar`.
if [ "$#" -eq 0 ] || [ "${1#-}" != "$1" ]; then
	set -- postgres "$@"
fi

if [ "$1" != postgres ]; then
	exec "$@"
fi

export PGDATA="${PGDATA:-/var/lib/postgresql/data}"
POSTGRES_DB="${POSTGRES_DB:-postgres}"
if [ -n "${POSTGRES_USER:-}" ] && [ "$POSTGRES_USER" != postgres ]; then
	log "error: POSTGRES_USER must be 'postgres' (or unset) in this image, got '$POSTGRES_USER'"
	exit 1
fi

mkdir -p "$PGDATA" /var/run/postgresql
if [ "$(id -u)" = 0 ]; then
	chown postgres:postgres "$PGDATA" /var/run/postgresql
	chmod 700 "$PGDATA"
	chmod 2775 /var/run/postgresql
else
	log "error: this image's entrypoint must start as root (it drops to postgres itself)"
	exit 1
fi

if [ ! -s "$PGDATA/PG_VERSION" ]; then
	if [ -z "${POSTGRES_PASSWORD:-}" ]; then
		log "error: POSTGRES_PASSWORD is required (e.g. docker run -e POSTGRES_PASSWORD=secret ...)"
		exit 1
	fi
	log "initializing $PGDATA"
	pwfile="$(mktemp)"
	printf '%s\n' "$POSTGRES_PASSWORD" >"$pwfile"
	chown postgres:postgres "$pwfile"
	as_postgres initdb --pgdata="$PGDATA" --username=postgres --pwfile="$pwfile" \
		--encoding=UTF8 --locale=C.UTF-8 \
		--auth-local=trust --auth-host=scram-sha-256 >/dev/null
	rm -f "$pwfile"
	# initdb only allows 127.0.0.1/::1 for host connections; allow every
	# address (other containers, --link) with a password.
	printf '\n%s\n' 'host all all all scram-sha-256' >>"$PGDATA/pg_hba.conf"
	printf '\n%s\n' "listen_addresses = '*'" >>"$PGDATA/postgresql.conf"

	# Socket-only temporary server for the init steps.
	as_postgres pg_ctl --pgdata="$PGDATA" -w -t 60 \
		-o "-c listen_addresses='' -c unix_socket_directories=/var/run/postgresql" start >/dev/null
	psql_init=(psql -X -q -v ON_ERROR_STOP=1 -h /var/run/postgresql -U postgres --no-password)
	if [ "$POSTGRES_DB" != postgres ]; then
		# via stdin: psql does not interpolate :"db" in -c strings
		printf '%s\n' 'CREATE DATABASE :"db";' |
			as_postgres "${psql_init[@]}" -d postgres -v db="$POSTGRES_DB" >/dev/null
	fi
	for f in /docker-entrypoint-initdb.d/*; do
		[ -e "$f" ] || continue
		case "$f" in
			*.sql) log "running $f"; as_postgres "${psql_init[@]}" -d "$POSTGRES_DB" -f "$f" ;;
			*.sh)  log "running $f"; as_postgres bash "$f" ;;
			*)     log "ignoring $f" ;;
		esac
	done
	as_postgres pg_ctl --pgdata="$PGDATA" -m fast -w stop >/dev/null
	log "init done (database '$POSTGRES_DB')"
fi

log "starting postgres"
# `docker import` cannot set STOPSIGNAL, so map docker stop's SIGTERM to
# postgres' fast shutdown (SIGINT) instead of its smart shutdown, which would
# wait for every client to disconnect.
# (not via the as_postgres function: that would put a subshell between)
setpriv --reuid=postgres --regid=postgres --init-groups -- "$@" &
pg_pid=$!
trap 'kill -INT "$pg_pid" 2>/dev/null || true' TERM INT
trap 'kill -QUIT "$pg_pid" 2>/dev/null || true' QUIT
while :; do
	rc=0
	wait "$pg_pid" || rc=$?
	kill -0 "$pg_pid" 2>/dev/null || break
done
exit "$rc"
