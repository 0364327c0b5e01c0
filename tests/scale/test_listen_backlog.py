"""The kernel keeps at most net.core.somaxconn connections waiting to be accepted, whatever backlog the node asks
for; a burst beyond it is dropped and some of it reset (seen: 876 of 10,000 streams opened in 2 s). `serve` says so
at start, with the setting to raise."""

from pathlib import Path

from app.http_server import listen_backlog_shortfall


def test_a_kernel_cap_below_the_asked_backlog_is_reported(tmp_path: Path) -> None:
    somaxconn = tmp_path / "somaxconn"
    somaxconn.write_text("4096\n")
    assert listen_backlog_shortfall(16384, somaxconn) == 4096


def test_a_kernel_cap_at_or_above_the_asked_backlog_is_not(tmp_path: Path) -> None:
    somaxconn = tmp_path / "somaxconn"
    somaxconn.write_text("16384\n")
    assert listen_backlog_shortfall(16384, somaxconn) is None
    assert listen_backlog_shortfall(2048, somaxconn) is None


def test_a_kernel_without_the_setting_is_not_reported(tmp_path: Path) -> None:
    assert listen_backlog_shortfall(16384, tmp_path / "absent") is None
