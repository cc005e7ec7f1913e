"""The docker client's environment: app values reach the container, never steer the client."""

import pytest

from dokku_migrations.common.errors import UserError
from dokku_migrations.docker.clientenv import client_environment, env_file, read_by_client, split_values


@pytest.mark.parametrize("key", ["DOCKER_HOST", "DOCKER_CONFIG", "HOME", "PATH", "LD_PRELOAD", "http_proxy",
                                 "HTTPS_PROXY", "GODEBUG", "OTEL_EXPORTER_OTLP_ENDPOINT", "XDG_CONFIG_HOME",
                                 "SSL_CERT_FILE", "TMPDIR"])
def test_variables_the_docker_client_reads_are_recognised(key):
    assert read_by_client(key)


@pytest.mark.parametrize("key", ["DATABASE_URL", "GOOGLE_APPLICATION_CREDENTIALS", "SECRET_KEY_BASE", "NODE_ENV"])
def test_the_apps_own_variables_are_not(key):
    assert not read_by_client(key)


def test_client_keys_travel_in_the_env_file_and_the_rest_in_the_environment():
    plain, piped, dropped = split_values({"DATABASE_URL": "postgres://x", "HOME": "/app", "DOCKER_HOST": "tcp://a"})
    assert (plain, piped, dropped) == ({"DATABASE_URL": "postgres://x"}, {"HOME": "/app", "DOCKER_HOST": "tcp://a"}, [])


def test_a_multi_line_client_key_cannot_travel_in_an_env_file_and_is_dropped():
    plain, piped, dropped = split_values({"DOCKER_CERT": "-----BEGIN\nxyz\n-----END", "A": "multi\nline is fine"})
    assert (plain, piped, dropped) == ({"A": "multi\nline is fine"}, {}, ["DOCKER_CERT"])


def test_the_client_keeps_the_plugins_own_home_and_docker_host():
    plain, piped, _ = split_values({"HOME": "/app", "DOCKER_HOST": "tcp://evil:1", "TOKEN": "t"})
    env = client_environment({"HOME": "/home/dokku", "PATH": "/usr/bin"}, plain)
    assert env == {"HOME": "/home/dokku", "PATH": "/usr/bin", "TOKEN": "t"}


def test_a_client_key_can_never_reach_the_clients_environment():
    with pytest.raises(UserError):
        client_environment({}, {"DOCKER_HOST": "tcp://evil:1"})


def test_the_env_file_holds_each_value_literally_one_per_line():
    assert env_file({"HOME": "/app x ", "LD_PRELOAD": "", "HTTP_PROXY": "http://u:p@h:1/?a=b#c"}) == \
        b"HOME=/app x \nLD_PRELOAD=\nHTTP_PROXY=http://u:p@h:1/?a=b#c\n"
