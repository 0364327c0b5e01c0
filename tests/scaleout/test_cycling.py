"""Several users deposit, spend and refund across processes for a bounded time; the money adds up from their side:
what they minted = what came back to their wallets + what the replies said they cost + what is left on their keys."""

from concurrent.futures import ThreadPoolExecutor

import pytest

from tests.scaleout.cluster import Cluster
from tests.scaleout.conftest import PG_4, SQLITE_2, on
from tests.scaleout.traffic import Ledgerless, cycle, finish
from tests.scaleout.wallets import UserWallets

USERS = 4
SECONDS = 8.0

pytestmark = pytest.mark.slow


@on(PG_4, SQLITE_2)
def test_users_cycling_deposits_and_refunds_across_processes(cluster: Cluster, users: UserWallets) -> None:
    known = Ledgerless()
    with ThreadPoolExecutor(max_workers=USERS) as pool:
        for _ in pool.map(lambda seed: cycle(cluster, users, known, SECONDS, seed), range(USERS)):
            pass
    cluster.settled()
    left_msat = finish(cluster, users, known)
    audits = cluster.audits_when_settled()

    assert known.rounds >= USERS, "the cluster served hardly anything"
    assert users.unspendable == [], f"a refund token the mint does not honour; {audits}"
    # MONEY: in = back + charges + left on the keys, to the msat, from the users' side.
    assert users.minted_sat * 1000 == users.received_sat * 1000 + known.charged_msat + left_msat, audits
    assert audits == []
