"""The docker client's environment: the one place that decides what the CLI process sees.

Dokku hands config values to a task container as `--env=KEY` flags whose values sit in the docker
client's environment. The client reads some variables itself (DOCKER_HOST, DOCKER_CONFIG, HOME
for its config directory, proxies, the dynamic linker's LD_*, Go's runtime knobs), so an app's
value there would steer the client — another daemon, another context, a preloaded library. Those
keys travel instead in an env file read from a pipe (`--env-file=/dev/fd/N`): never on disk,
never on a command line, and the client's own variables stay the plugin's.
"""

from typing import Dict, List, Mapping, Tuple

from dokku_migrations.common.errors import UserError

EXACT = {
    "HOME", "PATH", "TMPDIR", "SHELL", "USER", "LOGNAME", "PWD",
    "SSL_CERT_FILE", "SSL_CERT_DIR", "GLIBC_TUNABLES",
    "GODEBUG", "GOGC", "GOMAXPROCS", "GOMEMLIMIT", "GOTRACEBACK", "GORACE",
    "HTTP_PROXY", "HTTPS_PROXY", "NO_PROXY", "ALL_PROXY",
}
PREFIXES = ("DOCKER_", "LD_", "OTEL_", "XDG_", "BUILDKIT_", "NOTARY_", "MALLOC_")


def read_by_client(key: str) -> bool:
    upper = key.upper()
    return upper in EXACT or upper.startswith(PREFIXES)


def split_values(values: Mapping[str, str]) -> Tuple[Dict[str, str], Dict[str, str], List[str]]:
    """(values for the client's environment, values for the piped env file, keys that fit neither).

    An env file holds one `KEY=value` per line, so a multi-line value of a client key cannot travel.
    """
    plain: Dict[str, str] = {}
    piped: Dict[str, str] = {}
    dropped: List[str] = []
    for key, value in values.items():
        if not read_by_client(key):
            plain[key] = value
        elif "\n" in value or "\r" in value or "\0" in value:
            dropped.append(key)
        else:
            piped[key] = value
    return plain, piped, sorted(dropped)


def client_environment(own: Mapping[str, str], plain: Mapping[str, str]) -> Dict[str, str]:
    """The plugin's own environment (what Dokku gave it) plus the app's values for `--env=KEY`."""
    overlap = [key for key in plain if read_by_client(key)]
    if overlap:
        raise UserError(f"Internal error: {', '.join(overlap)} must travel in the env file")
    return {**own, **plain}


def env_file(piped: Mapping[str, str]) -> bytes:
    """`KEY=value` lines, as `docker --env-file` reads them: the value is taken literally."""
    return "".join(f"{key}={value}\n" for key, value in piped.items()).encode("utf-8", "surrogateescape")
