"""How the Engine API is addressed: the API version spoken, the local socket, and names as URL path
segments. Plain strings and no imports, so that gate/admit.py, which answers most restarts with
built-in modules only, shares them with engine.py without loading its `socket` and `json`."""

API = "/v1.40"
DEFAULT_SOCKET = "/var/run/docker.sock"
UNRESERVED = frozenset(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_.-~")


def escape(text: str, safe: bytes = b"") -> str:
    """Percent-encoding, as urllib.parse.quote does it (which loads ipaddress and more to get here)."""
    return "".join(chr(byte) if byte in UNRESERVED or byte in safe else f"%{byte:02X}" for byte in text.encode())


def path_of(name: str) -> str:
    """An image or container name as a URL path segment (`dokku/shop:latest` keeps its slash)."""
    return escape(name, b"/:@")
