"""URLs a user's input makes the node call (the mint a token names, a Lightning address's service).

An attacker chooses them, so they must not point the node at its own network (a database, a metadata service, a
container by its bare name): https to a public host (app.net.is_public_url, the rule Routstr's clients apply to node
URLs), or a Tor hidden service over http; anything else only when the operator allows it (ALLOW_PRIVATE_URLS, for
tests and home networks). Names are not resolved here: a public name that resolves to a private address is the
operator's DNS to trust."""

from urllib.parse import urlsplit

from app.net import is_public_url


def outbound_url_refusal(url: str, *, allow_private: bool) -> str | None:
    """Why the node will not call `url`, or None when it may."""
    parsed = urlsplit(url)
    host = (parsed.hostname or "").lower()
    if not host or parsed.scheme not in ("https", "http"):
        return "it is not a web address"
    if allow_private:
        return None
    if not is_public_url(url):
        return "it is on a private or loopback address"
    if parsed.scheme == "http" and not host.endswith(".onion"):
        return "it is plain http (only https is called)"
    return None
