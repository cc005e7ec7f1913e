"""Which database an app's URL names: the schemes Dokku's database plugins and frameworks use, and
every URL the plugin cannot observe, each with its reason — never with its password."""

import pytest

from dokku_migrations.database.url import MYSQL, POSTGRES, Target, Unsupported, environment, parse


def test_a_dokku_postgres_url_names_the_linked_service():
    target = parse("postgres://postgres:s3cret@dokku-postgres-shop:5432/shop")
    assert target == Target(POSTGRES, "dokku-postgres-shop", 5432, "postgres", "shop", "s3cret")


def test_a_dokku_mariadb_url_is_a_mysql_url():
    target = parse("mysql://mariadb:pw@dokku-mariadb-shop:3306/shop")
    assert isinstance(target, Target) and (target.kind, target.user, target.database) == (MYSQL, "mariadb", "shop")


@pytest.mark.parametrize("scheme,kind", [("postgresql", POSTGRES), ("postgis", POSTGRES), ("mysql2", MYSQL),
                                         ("mariadb", MYSQL)])
def test_framework_schemes_name_the_same_servers(scheme, kind):
    target = parse(f"{scheme}://u:p@db/app")
    assert isinstance(target, Target) and target.kind == kind


def test_a_missing_port_is_the_servers_default():
    assert parse("postgres://u:p@db/app").port == 5432
    assert parse("mysql://u:p@db/app").port == 3306


def test_percent_encoded_credentials_are_decoded():
    target = parse("postgres://user%40corp:p%2Fw%3A1@db:5432/my%20db")
    assert isinstance(target, Target) and (target.user, target.password, target.database) == ("user@corp", "p/w:1",
                                                                                              "my db")


@pytest.mark.parametrize("url,reason", [
    ("", "the app has no DATABASE_URL"),
    ("redis://cache:6379/0", "DATABASE_URL has the scheme 'redis', and only PostgreSQL and MySQL/MariaDB URLs are "
                             "observed"),
    ("postgres:///app?host=/var/run/postgresql", "DATABASE_URL names no host (a local socket cannot be reached from a "
                                                 "container)"),
    ("postgres://u:p@db:notaport/app", "DATABASE_URL is not a URL the plugin can read"),
    ("postgres://u:p@db/app\nx", "DATABASE_URL is not one line"),
    ("postgres://u:p%0A@db/app", "DATABASE_URL holds a control character"),
])
def test_a_url_that_cannot_be_observed_says_why(url, reason):
    assert parse(url) == Unsupported(reason)


def test_the_reason_names_the_key_the_app_keeps_its_url_in():
    assert parse("", "REPORTING_URL") == Unsupported("the app has no REPORTING_URL")


def test_neither_repr_nor_what_is_shown_holds_the_password():
    target = parse("postgres://postgres:s3cret@db:5432/shop?sslmode=require&password=other")
    assert "s3cret" not in repr(target) and "s3cret" not in target.shown and "other" not in target.shown


def test_libpq_parameters_of_the_url_reach_the_client_and_others_do_not():
    target = parse("postgres://u:p@db/app?sslmode=require&application_name=web&connect_timeout=3")
    assert isinstance(target, Target)
    env = environment(target)
    assert env is not None and env["PGSSLMODE"] == "require" and env["PGAPPNAME"] == "web"
    assert "connect_timeout" not in str(env)


def test_a_postgres_url_without_a_database_connects_to_the_users():
    target = parse("postgres://shop:p@db")
    assert isinstance(target, Target)
    assert environment(target)["PGDATABASE"] == "shop"  # type: ignore[index]
