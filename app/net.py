"""Whether a URL names a host on the public internet: what Routstr's clients will use as a node's endpoint, and what
the node itself will call when a user chooses the URL (a token's mint, a Lightning address)."""

import ipaddress
from urllib.parse import urlsplit


def is_public_url(url: str) -> bool:
    """Whether Routstr's clients would use this endpoint: not empty, not localhost, not a private address."""
    host = (urlsplit(url.strip()).hostname or "").lower()
    if not host or host == "localhost" or host.endswith((".localhost", ".local", ".internal")):
        return False
    if host.endswith(".onion"):
        return True
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return "." in host
    return address.is_global
