"""What a migration's database connections are doing right now, asked by the observer's client.

Which connections are the migration's: those whose client address is one of the migration
container's own addresses (its inspect document). That holds for every tool — libpq, node-postgres,
JDBC (Flyway, Liquibase), Prisma's engine, MySQL connectors — whereas an `application_name` set through
PGAPPNAME is honoured only by some (libpq and what wraps it, node-postgres, pgx; not JDBC nor Prisma,
whose URLs carry it instead), is overridden by a URL's own `application_name`, changes the
migration's environment, and exists only for PostgreSQL. Addresses fail only where the database does
not see the container's address (a NAT to a database elsewhere, a proxy such as PgBouncer, host
networking): the asking client, on the same networks, checks that the database sees *its* address as
its own, and when it does not, the connections are not told apart rather than guessed.

Nothing shown can hold a secret: statements only as their shape (database/shape.py), lock modes,
states and pids; the text of queries travels hex-encoded (no tab or newline can break a row) and is
reduced to its shape before it is kept. Pure: the SQL sent, the parsing, the wording.
"""

import ipaddress
from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional, Tuple

from dokku_migrations.common.output import duration
from dokku_migrations.database.shape import shape
from dokku_migrations.database.url import POSTGRES

ROWS = 5  # connections (and blockers) described: a pool of twenty says no more than its first few
SEPARATOR = "\t"
HIDDEN_QUERY = "<insufficient privilege>"  # PostgreSQL's text for another role's session

_PG_MINE = "a.client_addr IN ({addresses}) AND a.pid <> pg_backend_pid()"
_PG_SQL = (
    "SELECT 'self', host(inet_client_addr()); "
    "SELECT 'connection', a.pid, a.state, a.wait_event_type, extract(epoch FROM now() - a.query_start)::bigint, "
    "extract(epoch FROM now() - a.state_change)::bigint, l.locktype, l.mode, l.relation::regclass, "
    "l.transactionid, array_to_string(pg_blocking_pids(a.pid), ','), encode(convert_to(a.query, 'UTF8'), 'hex') "
    "FROM pg_stat_activity a LEFT JOIN LATERAL (SELECT k.locktype, k.mode, k.relation, k.transactionid "
    "FROM pg_locks k WHERE k.pid = a.pid AND NOT k.granted LIMIT 1) l ON true "
    f"WHERE {_PG_MINE} ORDER BY a.backend_start LIMIT {ROWS}; "
    "SELECT 'blocker', b.pid, b.state, extract(epoch FROM now() - b.state_change)::bigint, "
    "encode(convert_to(b.query, 'UTF8'), 'hex') FROM pg_stat_activity b WHERE b.pid IN "
    f"(SELECT unnest(pg_blocking_pids(a.pid)) FROM pg_stat_activity a WHERE {_PG_MINE}) ORDER BY b.pid LIMIT {ROWS};"
)
# MySQL and MariaDB show a client as `address:port` (their Docker images skip name resolution);
# an IPv4 client of a server listening on `::` may show as `::ffff:address:port`.
_MYSQL_SQL = (
    "SELECT 'self', HOST FROM information_schema.PROCESSLIST WHERE ID = CONNECTION_ID(); "
    "SELECT 'connection', ID, COMMAND, IFNULL(STATE, ''), IFNULL(TIME, ''), IFNULL(HEX(INFO), '') "
    "FROM information_schema.PROCESSLIST WHERE ({hosts}) AND ID <> CONNECTION_ID() ORDER BY ID LIMIT " f"{ROWS};"
)


def addresses(container: Dict[str, Any]) -> List[str]:
    """A container's IP addresses, from its inspect document (none before it starts, none with the
    host's or another container's networking)."""
    settings = container.get("NetworkSettings") or {}
    found = [settings.get("IPAddress"), settings.get("GlobalIPv6Address")]
    for network in (settings.get("Networks") or {}).values():
        found += [(network or {}).get("IPAddress"), (network or {}).get("GlobalIPv6Address")]
    return sorted({str(ipaddress.ip_address(value)) for value in found if value and _is_address(value)})


def _is_address(value: str) -> bool:
    try:
        ipaddress.ip_address(value)
    except ValueError:
        return False
    return True


def request(kind: str, mine: List[str]) -> str:
    """What the observer's client asks: its own address as the database sees it, then what the
    connections from `mine` (checked addresses, so nothing else reaches the SQL) are doing."""
    checked = [str(ipaddress.ip_address(address)) for address in mine]
    if kind == POSTGRES:
        return _PG_SQL.format(addresses=", ".join(f"'{address}'::inet" for address in checked))
    hosts = " OR ".join(f"HOST LIKE '{prefix}{address}:%'" for address in checked
                        for prefix in ("", "::ffff:"))
    return _MYSQL_SQL.format(hosts=hosts)


@dataclass(frozen=True)
class Connection:
    """One of the migration's connections. MySQL fills `state` with its command and `waiting` with
    its processlist state; `running` is how long its statement (or state) has lasted."""

    pid: str
    state: str
    waiting: str = ""
    running: Optional[int] = None
    since: Optional[int] = None
    lock: str = ""
    blockers: Tuple[str, ...] = ()
    statement: str = ""


@dataclass(frozen=True)
class Blocker:
    pid: str
    state: str = ""
    since: Optional[int] = None
    statement: str = ""


@dataclass
class Activity:
    seen_as: str = ""  # the asking client's address, as the database sees it
    connections: List[Connection] = field(default_factory=list)
    blockers: Dict[str, Blocker] = field(default_factory=dict)


def parse(text: str, kind: str) -> Activity:
    found = Activity()
    for line in text.splitlines():
        row = line.split(SEPARATOR)
        if row[0] == "self" and len(row) >= 2:
            found.seen_as = row[1].strip()
        elif row[0] == "connection" and kind == POSTGRES and len(row) >= 12:
            found.connections.append(Connection(
                pid=row[1], state=row[2], waiting=row[3], running=_seconds(row[4]), since=_seconds(row[5]),
                lock=lock_named(row[6], row[7], row[8], row[9]), blockers=tuple(p for p in row[10].split(",") if p),
                statement=_statement(row[11], kind)))
        elif row[0] == "connection" and len(row) >= 6:
            found.connections.append(Connection(pid=row[1], state=row[2], waiting=row[3], running=_seconds(row[4]),
                                                statement=_statement(row[5], kind)))
        elif row[0] == "blocker" and len(row) >= 5:
            found.blockers[row[1]] = Blocker(pid=row[1], state=row[2], since=_seconds(row[3]),
                                             statement=_statement(row[4], kind))
    return found


def _seconds(value: str) -> Optional[int]:
    value = value.strip()
    return int(value) if value.isdigit() else None


def _statement(hexed: str, kind: str) -> str:
    """A query's shape; the query itself is dropped here."""
    try:
        query = bytes.fromhex(hexed.strip()).decode("utf-8", "replace")
    except ValueError:
        return ""
    return "" if query == HIDDEN_QUERY else shape(query, kind)


def lock_named(locktype: str, mode: str, relation: str, transaction: str) -> str:
    """`AccessExclusiveLock on table widgets`, `ShareLock on transaction 7310` (the rows it changed)."""
    if not locktype:
        return ""
    mode = _printable(mode) or "a lock"
    relation = _printable(relation)
    if locktype == "relation":
        return f"{mode} on table {relation}"
    if locktype == "tuple":
        return f"{mode} on a row of {relation}"
    if locktype == "transactionid":
        return f"{mode} on transaction {_printable(transaction)} (rows it changed)"
    if locktype == "advisory":
        return f"advisory {mode}"
    return f"{mode} ({_printable(locktype)}{' on ' + relation if relation else ''})"


def _printable(text: str) -> str:
    return "".join(char if char.isprintable() else " " for char in text.strip())[:80]


def describe(found: Activity, kind: str) -> str:
    """`PostgreSQL pid 812 running SELECT pg_sleep(?) for 31s`, and the like, for each connection."""
    if kind == POSTGRES:
        mine = {connection.pid for connection in found.connections}
        said = [_postgres(connection, found.blockers, mine) for connection in found.connections]
        return "PostgreSQL " + "; ".join(said) if said else "PostgreSQL: the migration has no connection open"
    said = [_mysql(connection) for connection in found.connections]
    return "MySQL/MariaDB " + "; ".join(said) if said else "MySQL/MariaDB: the migration has no connection open"


def _postgres(connection: Connection, blockers: Dict[str, Blocker], mine: set) -> str:
    state, pid = connection.state, f"pid {connection.pid}"
    statement = connection.statement or "a statement"
    if state == "active" and connection.waiting == "Lock":
        held = ", ".join(_blocker(blockers.get(p, Blocker(p)), p in mine) for p in connection.blockers)
        return (f"{pid} waiting {duration(connection.running)} for {connection.lock or 'a lock'}"
                f"{', held by ' + held if held else ''}, to run {statement}")
    if state == "active":
        return f"{pid} running {statement} for {duration(connection.running)}"
    if state.startswith("idle in transaction"):
        after = f" after {connection.statement}" if connection.statement else ""
        return f"{pid} {state} for {duration(connection.since)}{after}"
    if state == "idle":
        return f"{pid} idle for {duration(connection.since)}"
    return f"{pid} {_printable(state) or 'in an unknown state'}"


def _blocker(blocker: Blocker, own: bool) -> str:
    if own:
        return f"pid {blocker.pid} (another of the migration's own connections)"
    if not blocker.state:
        return f"pid {blocker.pid}"
    doing = " after " if blocker.state.startswith("idle") else " running "
    return (f"pid {blocker.pid} ({_printable(blocker.state)} for {duration(blocker.since)}"
            f"{doing + blocker.statement if blocker.statement else ''})")


def _mysql(connection: Connection) -> str:
    command = _printable(connection.state)
    if command == "Sleep":
        return f"thread {connection.pid} idle for {duration(connection.running)}"
    state = _printable(connection.waiting)
    return (f"thread {connection.pid} {command.lower() or 'busy'} for {duration(connection.running)}"
            f"{', ' + state if state else ''}{': ' + connection.statement if connection.statement else ''}")


def sees_own_address(found: Activity, asker: List[str], kind: str) -> bool:
    """Whether the database sees the asking client at one of its container's addresses (then it sees
    the migration's, on the same networks, at the migration container's)."""
    seen = found.seen_as if kind == POSTGRES else found.seen_as.rpartition(":")[0]  # MySQL: `address:port`
    if seen.startswith("::ffff:") and "." in seen:
        seen = seen[len("::ffff:"):]
    return _is_address(seen) and str(ipaddress.ip_address(seen)) in asker
