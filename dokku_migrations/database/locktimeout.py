"""Never queue the live app behind a migration's lock (PostgreSQL): the migration's `lock_timeout`,
how a run that gave up waiting for a lock is recognised, and when it is tried again.

An `ALTER TABLE` needs an ACCESS EXCLUSIVE lock. Behind a transaction that touched the table (a long
report, the `pg_dump` of `dokku postgres:backup`, a console left in a transaction) it waits, and holds
its place in the lock queue: every query of the live app on that table waits behind it, for as long as
that transaction lasts. With `lock_timeout` the migration gives up instead, the queue drains, and the
run is tried again a little later, when the transaction may have ended.

The timeout travels as `PGOPTIONS=-c lock_timeout=…` in the migration container's environment only (the
app's config is never changed), after the app's own PGOPTIONS so that it wins over a lock_timeout there.
libpq reads PGOPTIONS (psql, psycopg 2 and 3, Rails' pg, PHP's pdo_pgsql, Go's lib/pq), and so does
node-postgres from pg 8.3.0 (lib/connection-parameters.js: `val('options', config)` falls back to
PGOPTIONS), under Knex, node-pg-migrate and Drizzle. A connection that sets `options` itself (in its URL,
or Django's OPTIONS) replaces PGOPTIONS, and a migration's own `SET lock_timeout` wins for its session:
the project's explicit choice stands. Prisma's migration engine (Rust) and Go's pgx do not read PGOPTIONS.

Pure: migrate.py runs the containers and reads their output; everything decided is here.
"""

import re
from typing import Dict, List, Optional, Tuple

KEY = "PGOPTIONS"
FLAG = f"--env={KEY}"
SCAN_BYTES = 65536  # the tail of an attempt's output that is searched: errors come at the end
MAX_BACKOFF = 60.0
BACKOFF_WITHOUT_TIMEOUT = 5.0  # a lock timeout of the project's own (lock-timeout off): it did not say how long

# What a migration prints when PostgreSQL cancelled a statement with SQLSTATE 55P03 (lock_not_available):
# the code itself (PHP's PDO, node-postgres' error object, pgx), the class names drivers give it (psycopg
# 2 and 3 `errors.LockNotAvailable`, Rails' `PG::LockNotAvailable`, asyncpg's `LockNotAvailableError`),
# its condition name, or the server's message, which the server translates to its lc_messages: the
# translations are PostgreSQL 15's message catalogs (postgres/postgres src/backend/po/*.po, msgid
# "canceling statement due to lock timeout", raised in src/backend/tcop/postgres.c ProcessInterrupts).
LOCK_TIMEOUT_MESSAGES = (
    "canceling statement due to lock timeout",
    "storniere Anfrage wegen Zeitüberschreitung einer Sperre",  # de
    "cancelando la sentencia debido a que se agotó el tiempo de espera de candados",  # es
    "annulation de la requête à cause du délai écoulé pour l'obtention des verrous",  # fr
    "annullamento dell'istruzione a causa di timeout di lock",  # it
    "ロックのタイムアウトのためステートメントをキャンセルしています",  # ja
    "გამოსახულება გაუქმდება ბლოკის მოლოდინის ვადის ამოწურვის გამო",  # ka
    "잠금 대기 시간 초과로 작업을 취소합니다",  # ko
    "выполнение оператора отменено из-за тайм-аута блокировки",  # ru
    "avbryter sats på grund av lås-timeout",  # sv
    "виконання оператора скасовано через тайм-аут блокування",  # uk
    "由于锁超时，取消语句操作",  # zh_CN
)
GAVE_UP_ON_LOCK = re.compile("|".join([r"\b55P03\b", r"LockNotAvailable", r"\block_not_available\b"]
                                      + [re.escape(message) for message in LOCK_TIMEOUT_MESSAGES]))
# A connection pooler that refuses startup options: PgBouncer before 1.20 ("unsupported startup parameter:
# options") and after, for a setting it does not track ("unsupported startup parameter in options:
# lock_timeout"); Neon's proxy says the same. The connection was refused before any statement ran.
REFUSED_BY_POOLER = re.compile(r"unsupported startup parameter")


def shown(seconds: float) -> str:
    """`5s`, `0.5s`: how the setting reads in messages."""
    return f"{seconds:.3f}".rstrip("0").rstrip(".") + "s"


def option(seconds: float) -> str:
    """The server option, in milliseconds when the setting has a fraction (PostgreSQL's unit)."""
    value = f"{int(seconds)}s" if seconds == int(seconds) else f"{round(seconds * 1000)}ms"
    return f"-c lock_timeout={value}"


def merged(app_value: Optional[str], seconds: float) -> str:
    """The app's own PGOPTIONS, then ours: the server applies `-c` options in order, so ours wins
    over a lock_timeout of the app's, and everything else of the app's stays as it was."""
    own = (app_value or "").strip()
    return f"{own} {option(seconds)}" if own else option(seconds)


def with_lock_timeout(args: List[str], values: Dict[str, str], seconds: float) -> Tuple[List[str], Dict[str, str]]:
    """The container's `--env=KEY` flags and their values with PGOPTIONS set for the migration; a
    timeout of 0 (off) changes nothing. The value travels like every config value: `--env=PGOPTIONS`
    on argv, the value in the docker client's environment."""
    if seconds <= 0:
        return args, values
    flags = args if FLAG in args else [*args, FLAG]
    return flags, {**values, KEY: merged(values.get(KEY), seconds)}


def without_lock_timeout(args: List[str], env: Dict[str, str], seconds: float) -> Tuple[List[str], Dict[str, str]]:
    """The same container without our option: the app's own PGOPTIONS as it was, or none."""
    if seconds <= 0 or KEY not in env:
        return args, env
    own = env[KEY][: -len(option(seconds))].strip()
    if own:
        return args, {**env, KEY: own}
    return [arg for arg in args if arg != FLAG], {key: value for key, value in env.items() if key != KEY}


def gave_up_on_lock(output: bytes) -> bool:
    """Whether an attempt that failed printed PostgreSQL's lock-not-available error (55P03)."""
    return bool(GAVE_UP_ON_LOCK.search(output[-SCAN_BYTES:].decode("utf-8", "replace")))


def refused_by_pooler(output: bytes) -> bool:
    """Whether a connection pooler refused the startup options (the lock timeout among them)."""
    return bool(REFUSED_BY_POOLER.search(output[-SCAN_BYTES:].decode("utf-8", "replace")))


def backoff(failed: int, seconds: float) -> float:
    """Seconds to wait after the `failed`-th attempt that gave up on a lock: the lock timeout, doubled
    each time, at least 1 s, at most a minute. The app's queries on the table stalled for up to the
    lock timeout while the attempt waited; between attempts they run freely for at least as long, so
    the migration never holds the queue more than half the time."""
    base = max(seconds if seconds > 0 else BACKOFF_WITHOUT_TIMEOUT, 1.0)
    return min(base * 2 ** (failed - 1), MAX_BACKOFF)


def retry_delay(failed: int, retries: int, seconds: float, time_left: Optional[float]) -> Optional[float]:
    """After `failed` attempts that gave up on a lock: how long to wait before the next, or None when
    there is none — the retries are used up, or the run's timeout (`time_left`, None when there is no
    timeout) leaves no room for the wait and one more full lock wait."""
    if failed > retries:
        return None
    delay = backoff(failed, seconds)
    if time_left is not None and time_left < delay + max(seconds, 1.0):
        return None
    return delay


def retry_note(attempt: int, most: int, seconds: float, delay: float) -> str:
    """The line between two attempts, in the output and the run's log."""
    limit = f" after {shown(seconds)}" if seconds > 0 else ""
    return (f"[dokku-migrations] Attempt {attempt} of {most} gave up waiting for a lock{limit}; the app's queries "
            f"go on meanwhile. Attempt {attempt + 1} in {shown(delay)}")


def gave_up(what: str, command: str, attempts: int, seconds: float, app: str, retries: int, out_of_time: bool,
            logs_hint: str) -> str:
    """The deploy's last line when its last attempt gave up waiting for a lock: what, why, what to do."""
    limit = f" after {shown(seconds)}" if seconds > 0 else ""
    times = f" on each of its {attempts} attempts" if attempts > 1 else ""
    why = ", and the timeout leaves no time for another" if out_of_time else ""
    more = (f" (or let it try more often: 'dokku migrations:set {app} lock-retries {min(max(retries * 2, 3), 20)}')"
            if not out_of_time and retries < 20 else "")
    return (f"{what} '{command}' gave up waiting for a lock{limit}{times}{why} (see the output above, again with "
            f"'{logs_hint}'): a long transaction of another session holds a lock on a table it changes, and waiting "
            f"on would have stalled the app's queries on that table. Find that session in pg_stat_activity (the "
            f"oldest xact_start), let it finish or end it, then deploy again{more}")


def pooler_note(app: str) -> str:
    """The line when a connection pooler refused the lock timeout, and the run goes on without it."""
    return (f"[dokku-migrations] The database's connection pooler refused the lock timeout (unsupported startup "
            f"parameter): running again without it, so this run may queue the app's queries behind its locks. "
            f"Give the migration a direct connection to the server, or turn the timeout off: "
            f"'dokku migrations:set {app} lock-timeout 0'")
