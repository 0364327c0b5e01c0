"""Child processes a demo node starts for itself (the FakeWallet test mint, the upstream stand-in): they die with the
node, also when it is killed, and are stopped politely first when it stops."""

import asyncio
import ctypes
import signal
import subprocess
import sys
from collections.abc import Callable

STOP_TIMEOUT_S = 10.0


def die_with_parent() -> Callable[[], object] | None:
    """A preexec_fn: on Linux the child gets SIGTERM when the node dies, even by SIGKILL (PR_SET_PDEATHSIG)."""
    if not sys.platform.startswith("linux"):
        return None
    prctl = ctypes.CDLL(None, use_errno=True).prctl  # looked up before the fork: the child only calls it
    pr_set_pdeathsig = 1
    return lambda: prctl(pr_set_pdeathsig, signal.SIGTERM)


async def stop_child(process: "subprocess.Popen[bytes]") -> None:
    process.terminate()
    try:
        await asyncio.to_thread(process.wait, STOP_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        process.kill()
        await asyncio.to_thread(process.wait, STOP_TIMEOUT_S)
