"""Statement capture on a throwaway server: switched on once the server holds what the migration
will find (after the schema copy), read back once the migration ended. The plugin's own sessions
never appear in it (PGOPTIONS=-c log_statement=none; MySQL/MariaDB's sql_log_off).

PostgreSQL: log_statement=all for the app's database (ALTER DATABASE … SET, read by every session
that connects afterwards, whatever its role), written to the server's CSV log (server.PG_SETTINGS)
and read back with pg_read_file. MySQL/MariaDB: the general log into mysql.general_log.
"""

import binascii
import re
import time
from typing import List

from dokku_migrations.common.errors import UserError
from dokku_migrations.database import statements as parsed
from dokku_migrations.database.locks import Tables
from dokku_migrations.database.server import MYSQL_QUIET, PG_LOG_FILE, Throwaway, last_words, quote_ident
from dokku_migrations.database.url import POSTGRES

# The production tables as the lock rules need them, asked of the copy before the migration runs.
PG_TABLES_SQL = (
    "SELECT 'column', n.nspname || '.' || c.relname, a.attname, format_type(a.atttypid, a.atttypmod) "
    "FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace JOIN pg_attribute a ON a.attrelid = c.oid "
    "WHERE c.relkind IN ('r', 'p') AND a.attnum > 0 AND NOT a.attisdropped "
    "AND n.nspname NOT IN ('pg_catalog', 'information_schema') "
    "UNION ALL SELECT 'index', n.nspname || '.' || ci.relname, nt.nspname || '.' || ct.relname, '' "
    "FROM pg_index i JOIN pg_class ci ON ci.oid = i.indexrelid JOIN pg_namespace n ON n.oid = ci.relnamespace "
    "JOIN pg_class ct ON ct.oid = i.indrelid JOIN pg_namespace nt ON nt.oid = ct.relnamespace "
    "WHERE n.nspname NOT IN ('pg_catalog', 'information_schema');"
)


class Capture:
    def __init__(self, server: Throwaway) -> None:
        self.server = server
        self.postgres = server.kind.family == POSTGRES

    def tables(self) -> Tables:
        """What exists before the migration runs (PostgreSQL: the lock report's production tables)."""
        tables = Tables()
        if not self.postgres:
            return tables
        for fields in self._rows(PG_TABLES_SQL):
            if len(fields) == 4 and fields[0] == "column":
                tables.columns.setdefault(fields[1], {})[fields[2]] = fields[3]
            elif len(fields) == 4 and fields[0] == "index":
                tables.indexes[fields[1]] = fields[2]
        return tables

    def version(self) -> str:
        """The server's version as squawk takes it (PostgreSQL: "16.4")."""
        if not self.postgres:
            return ""
        text = self._run("SHOW server_version;", database="postgres").strip().split(" ")[0]
        return text if re.fullmatch(r"[0-9]+(\.[0-9]+)*", text) else ""

    def start(self) -> None:
        if self.postgres:
            self._run(f"ALTER DATABASE {quote_ident(self.server.database)} SET log_statement = 'all';",
                      database="postgres")
        else:
            self._run("SET GLOBAL log_output = 'TABLE'; SET GLOBAL general_log = 1;")

    def statements(self) -> List[str]:
        """Every statement the migration sent, in order."""
        if not self.postgres:
            text = self._run("SET GLOBAL general_log = 0; SELECT thread_id, command_type, HEX(argument) "
                             "FROM mysql.general_log;")
            return parsed.from_mysql_rows(text, MYSQL_QUIET)
        time.sleep(0.2)  # the logging collector writes what backends sent it a moment later
        encoded = self._run(f"SELECT encode(convert_to(pg_read_file('{PG_LOG_FILE}'), 'UTF8'), 'base64');",
                            database="postgres")
        try:
            text = binascii.a2b_base64("".join(encoded.split())).decode("utf-8", "replace")
        except binascii.Error:
            raise UserError("The throwaway PostgreSQL's statement log could not be read back")
        return parsed.from_postgres_csv(text, self.server.database)

    def _rows(self, sql: str) -> List[List[str]]:
        return [line.split("|") for line in self._run(sql, database=self.server.database).splitlines()]

    def _run(self, sql: str, database: str = "") -> str:
        user = "postgres" if self.postgres else ""
        code, out, err = self.server.sql(sql, user=user, database=database)
        if code != 0:
            raise UserError(f"The throwaway {self.server.kind.title} did not answer as expected: "
                            f"{last_words(err or out)}")
        return out
