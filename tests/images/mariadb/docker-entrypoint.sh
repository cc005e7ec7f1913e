#!/bin/bash
# Entrypoint of the dm-mariadb:10.11 test image (built by tests/images/build).
#
# A small stand-in for the official mariadb image's entrypoint, enough for the
# `try` tests (the MARIADB_ name wins when both are set):
#   MARIADB_ROOT_PASSWORD / MYSQL_ROOT_PASSWORD  required; root's password
#   MARIADB_DATABASE / MYSQL_DATABASE            database created on first start
#   MARIADB_USER / MYSQL_USER                    user with every privilege on it
#   MARIADB_PASSWORD / MYSQL_PASSWORD            that user's password
# First start: mariadb-install-db, then a temporary server without networking
# (socket only) sets the passwords and creates the database and the user, and
# stops; then the real server starts, listening on 0.0.0.0:3306. Like the
# official image, the server starts twice, and a query over TCP succeeds only
# once the real one is up. mariadbd then runs as PID 1 (exec), as user mysql,
# and shuts down on docker stop's SIGTERM. No value ever reaches a command line:
# the SQL goes to the client on stdin.
set -Eeuo pipefail

log() { printf '%s [dm-mariadb] %s\n' "$(date -u +%FT%TZ)" "$*" >&2; }

# `docker run IMAGE --foo` means `mariadbd --foo`.
if [ "$#" -eq 0 ] || [ "${1#-}" != "$1" ]; then
	set -- mariadbd "$@"
fi
if [ "$1" != mariadbd ] && [ "$1" != mysqld ]; then
	exec "$@"
fi

for name in ROOT_PASSWORD DATABASE USER PASSWORD; do
	maria="MARIADB_$name" mysql="MYSQL_$name"
	if [ -n "${!maria:-}" ]; then
		printf -v "$mysql" '%s' "${!maria}"
	fi
done

DATADIR=/var/lib/mysql
SOCKET=/run/mysqld/mysqld.sock
if [ "$(id -u)" != 0 ]; then
	log "error: this image's entrypoint must start as root (mariadbd drops to mysql itself)"
	exit 1
fi
mkdir -p "$DATADIR" /run/mysqld
chown mysql:mysql "$DATADIR" /run/mysqld

# SQL literals and identifiers, quoted for MariaDB's default sql_mode
literal() { local s="${1//\\/\\\\}"; printf "'%s'" "${s//\'/\\\'}"; }
identifier() { printf '`%s`' "${1//\`/\`\`}"; }

if [ ! -d "$DATADIR/mysql" ]; then
	if [ -z "${MYSQL_ROOT_PASSWORD:-}" ]; then
		log "error: MARIADB_ROOT_PASSWORD (or MYSQL_ROOT_PASSWORD) is required (docker run -e MARIADB_ROOT_PASSWORD=secret ...)"
		exit 1
	fi
	if [ "${MYSQL_USER:-}" = root ]; then
		log "error: MARIADB_USER must not be root: root is set up from MARIADB_ROOT_PASSWORD"
		exit 1
	fi
	if [ -n "${MYSQL_USER:-}" ] && [ -z "${MYSQL_PASSWORD:-}" ]; then
		log "error: MARIADB_USER needs MARIADB_PASSWORD"
		exit 1
	fi
	log "initializing $DATADIR"
	mariadb-install-db --user=mysql --datadir="$DATADIR" --skip-test-db \
		--auth-root-authentication-method=socket >/dev/null

	mariadbd --user=mysql --datadir="$DATADIR" --skip-networking --socket="$SOCKET" &
	temp_pid=$!
	client=(mariadb --protocol=socket --socket="$SOCKET" --user=root --batch --skip-column-names)
	for _ in $(seq 1 300); do
		"${client[@]}" -e 'SELECT 1' >/dev/null 2>&1 && break
		kill -0 "$temp_pid" 2>/dev/null || { log "error: the temporary server stopped"; exit 1; }
		sleep 0.2
	done
	{
		root="$(literal "$MYSQL_ROOT_PASSWORD")"
		printf '%s\n' "ALTER USER 'root'@'localhost' IDENTIFIED VIA unix_socket OR mysql_native_password USING PASSWORD($root);"
		printf '%s\n' "CREATE USER 'root'@'%' IDENTIFIED BY $root;"
		printf '%s\n' "GRANT ALL ON *.* TO 'root'@'%' WITH GRANT OPTION;"
		if [ -n "${MYSQL_DATABASE:-}" ]; then
			printf '%s\n' "CREATE DATABASE IF NOT EXISTS $(identifier "$MYSQL_DATABASE");"
		fi
		if [ -n "${MYSQL_USER:-}" ]; then
			printf '%s\n' "CREATE USER $(literal "$MYSQL_USER")@'%' IDENTIFIED BY $(literal "$MYSQL_PASSWORD");"
			if [ -n "${MYSQL_DATABASE:-}" ]; then
				printf '%s\n' "GRANT ALL ON $(identifier "$MYSQL_DATABASE").* TO $(literal "$MYSQL_USER")@'%';"
			fi
		fi
	} | "${client[@]}"
	kill -TERM "$temp_pid"
	wait "$temp_pid" || true
	log "init done (database '${MYSQL_DATABASE:-}', user '${MYSQL_USER:-}')"
fi

log "starting mariadbd"
exec "$1" --user=mysql --datadir="$DATADIR" --socket="$SOCKET" "${@:2}"
