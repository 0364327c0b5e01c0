"""`kill -9` of one process while users move money through the cluster; it is started again on the same database
and the journal is settled from the mint's word. Nothing is lost or paid twice, counted by the users' wallets."""

import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from tests.scaleout.cluster import Cluster
from tests.scaleout.conftest import PG_2, SQLITE_2, on
from tests.scaleout.traffic import Ledgerless, cycle, finish
from tests.scaleout.wallets import UserWallets

USERS = 3
SECONDS = 4.0
KILL_AFTER_S = 1.5

pytestmark = pytest.mark.slow


@on(PG_2, SQLITE_2)
def test_sigkill_of_one_process_mid_flight_then_restart(cluster: Cluster, users: UserWallets) -> None:
    known = Ledgerless()
    victim = cluster.nodes[-1]
    with ThreadPoolExecutor(max_workers=USERS) as pool:
        running = [pool.submit(cycle, cluster, users, known, SECONDS, seed, False) for seed in range(USERS)]
        threading.Event().wait(KILL_AFTER_S)
        victim.kill()
        for user in running:
            user.result()
    started = time.monotonic()
    victim.start()
    cluster.settled()
    left_msat = finish(cluster, users, known)
    audits = cluster.audits_when_settled()

    assert time.monotonic() - started < 60
    assert users.unspendable == [], f"a refund token the mint does not honour; {audits}"
    # MONEY: in = back + left on the keys (no paid calls here), to the msat.
    assert users.minted_sat * 1000 == users.received_sat * 1000 + left_msat, audits
    assert audits == []
