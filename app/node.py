"""The long-lived services of one running node, built by the lifespan and handed to the web layer."""

from dataclasses import dataclass

from app.admin.service import Admin
from app.db.leases import Leases
from app.dvm.claims import BalanceClaims
from app.ledger.service import Ledger
from app.nostr.announcer import Announcer
from app.nostr.provider_cache import ProviderCache
from app.observability.ready import Readiness
from app.payments.lightning import Lightning
from app.payments.service import Payments
from app.pricing.rates import RateSource
from app.proxy.model_catalog import ModelCatalog
from app.proxy.service import ProxyService
from app.settings import Settings


@dataclass(slots=True)
class Node:
    settings: Settings
    ledger: Ledger
    catalog: ModelCatalog
    proxy: ProxyService
    rates: RateSource
    payments: Payments
    lightning: Lightning
    upstream_url: str
    leases: Leases  # this process's identity (boot id) and its claims in the database
    fake_mints: tuple[str, ...] = ()  # trusted mints known to pay every invoice (a demo node's own test mint)
    npub: str = ""
    announcer: Announcer | None = None
    providers: ProviderCache | None = None
    admin: Admin | None = None
    readiness: Readiness | None = None  # GET /ready
    dvm_claims: BalanceClaims | None = None  # POST /v1/dvm/refund (with the DVM on)
