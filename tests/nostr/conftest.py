from tests.fixtures.relay import _spare_relay_session, nostr_relays, spare_relay

__all__ = ["_spare_relay_session", "nostr_relays", "spare_relay"]
