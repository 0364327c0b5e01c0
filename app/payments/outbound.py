"""URLs a user's input makes the node call (the mint a token names, a Lightning address's service).

An attacker chooses them, so they must not point the node at its own network (a database, a metadata service): https
to a public host, or a Tor hidden service over http; loopback and private addresses only when the operator allows
them (ALLOW_PRIVATE_URLS, for tests and home networks). Names are not resolved here: a public name that resolves to a
private address is the operator's DNS to trust."""

import ipaddress
from urllib.parse import urlsplit


def outbound_url_refusal(url: str, *, allow_private: bool) -> str | None:
    """Why the node will not call `url`, or None when it may."""
    parsed = urlsplit(url)
    host = (parsed.hostname or "").lower()
    if not host or parsed.scheme not in ("https", "http"):
        return "it is not a web address"
    if allow_private:
        return None
    if host == "localhost" or host.endswith(".localhost") or _is_private_ip(host):
        return "it is on a private or loopback address"
    if parsed.scheme == "http" and not host.endswith(".onion"):
        return "it is plain http (only https is called)"
    return None


def _is_private_ip(host: str) -> bool:
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return False
    return not address.is_global
