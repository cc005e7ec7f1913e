#!/bin/bash
# Entrypoint of the dm-postgres:15 test image (built by tests/images/build).
#
# A small stand-in for the official postgres image's entrypoint, enough for
# the dokku-migrations tests:
#   POSTGRES_PASSWORD  required; password of the superuser "postgres"
#   POSTGRES_DB        database created on first start (default: postgres)
#   POSTGRES_USER      only "postgres" is supported
#   PGDATA             data directory (default: /var/lib/postgresql/data)
# First start: a copy of the cluster tests/images/build initialised in the
# image (what initdb would make: `local` connections trusted, `host`
# connections with the password (scram-sha-256), listening on 0.0.0.0:5432),
# so no server runs initdb; then, in single-user mode (nothing listens yet),
# the superuser's password set and POSTGRES_DB created; then
# /docker-entrypoint-initdb.d/*.sql|*.sh against a socket-only server, so
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
CLUSTER=/usr/share/dm-postgres/cluster # initialised by tests/images/build (recipe_postgres_image)
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
	log "initializing $PGDATA from the image's initialised cluster"
	cp -a "$CLUSTER/." "$PGDATA/"
	# The copy's superuser has the image's throwaway password: replaced before anything can connect.
	# (the password goes through stdin, never an argument; quotes doubled as SQL wants them; no fsync:
	# a server that dies this early leaves a half-made directory whatever is synced)
	{
		printf "ALTER USER postgres PASSWORD '%s';\n" "${POSTGRES_PASSWORD//\'/\'\'}"
		if [ "$POSTGRES_DB" != postgres ]; then
			printf 'CREATE DATABASE "%s";\n' "${POSTGRES_DB//\"/\"\"}"
		fi
	} | as_postgres postgres --single -D "$PGDATA" -c exit_on_error=on -c fsync=off postgres >/dev/null ||
		{ log "error: could not set the password or create database '$POSTGRES_DB'"; exit 1; }

	init_files=(/docker-entrypoint-initdb.d/*)
	if [ -e "${init_files[0]}" ]; then
		# Socket-only temporary server for the init scripts.
		as_postgres pg_ctl --pgdata="$PGDATA" -w -t 60 \
			-o "-c listen_addresses='' -c unix_socket_directories=/var/run/postgresql" start >/dev/null
		psql_init=(psql -X -q -v ON_ERROR_STOP=1 -h /var/run/postgresql -U postgres --no-password)
		for f in "${init_files[@]}"; do
			case "$f" in
				*.sql) log "running $f"; as_postgres "${psql_init[@]}" -d "$POSTGRES_DB" -f "$f" ;;
				*.sh)  log "running $f"; as_postgres bash "$f" ;;
				*)     log "ignoring $f" ;;
			esac
		done
		as_postgres pg_ctl --pgdata="$PGDATA" -m fast -w stop >/dev/null
	fi
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
