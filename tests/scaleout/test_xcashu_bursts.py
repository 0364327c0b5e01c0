"""One X-Cashu token paying calls on every process at once: the token is redeemed once, each call that went through
is paid from it, and what is left comes back as change (X-Cashu reply header) or stays claimable by the token."""

import pytest

from tests.scaleout.cluster import Cluster, chat, cost_msat
from tests.scaleout.conftest import PG_4, SQLITE_2, on
from tests.scaleout.wallets import UserWallets

BURSTS_SAT = (64, 40, 50)

pytestmark = pytest.mark.slow


@on(PG_4, SQLITE_2)
def test_xcashu_bursts_of_one_token_across_processes(cluster: Cluster, users: UserWallets) -> None:
    change: set[str] = set()
    charged_msat = left_msat = 0
    for amount in BURSTS_SAT:
        token = users.new_token(amount)
        calls = [lambda n=n, t=token: chat(cluster, n, {"x-cashu": t}) for n in range(len(cluster.nodes))]
        answers = cluster.at_once(calls)
        assert any(a.status_code == 200 for a in answers), [a.text for a in answers]
        charged_msat += sum(cost_msat(a) for a in answers)
        change |= {a.headers["x-cashu"] for a in answers if "x-cashu" in a.headers}
        cluster.settled()
        claim = cluster.post(0, "/balance/refund", key=token)  # whatever change did not come back with a reply
        if claim.status_code == 200:
            change.add(claim.json()["token"])
        left_msat += cluster.balance_msat(token) or 0
    users.receive(sorted(change))
    audits = cluster.audits_when_settled()

    assert users.unspendable == [], f"change the mint does not honour; {audits}"
    # MONEY: in = change back + charges + sub-sat remainders on the token keys, to the msat.
    assert users.minted_sat * 1000 == users.received_sat * 1000 + charged_msat + left_msat, audits
    assert left_msat < 1000 * len(BURSTS_SAT)
    assert audits == []
