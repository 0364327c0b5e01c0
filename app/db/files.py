"""The node's files hold money: the SQLite file, its WAL and SHM keep spendable proofs and unclaimed change and
refund tokens, and DATA_DIR keeps the Nostr key. They are for the node's user alone: the process creates files 0600
and directories 0700 (umask 077), tightens what it owns from before, warns about what others can read and refuses
storage that others can write."""

import logging
import os
import stat
from pathlib import Path

from sqlalchemy.engine import make_url

from app.db.urls import is_sqlite

log = logging.getLogger(__name__)

PRIVATE_UMASK = 0o077
SQLITE_COMPANIONS = ("-wal", "-shm", "-journal")


class InsecureStorage(Exception):
    """Storage another user can write to; the message is one line naming the path."""


def secure_storage(database_url: str, data_dir: Path) -> None:
    """Make the node's storage private; logs what others can still read, raises InsecureStorage when others can
    write to it."""
    os.umask(PRIVATE_UMASK)  # for the whole process: every file it creates from now on
    directories, files = _storage_paths(database_url, data_dir)
    for directory in directories:
        directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        _tighten(directory, 0o700)
    for path in files:
        _tighten(path, 0o600)
    for warning in _check([*directories, *files]):
        log.warning("storage.readable: %s", warning)


def _storage_paths(database_url: str, data_dir: Path) -> tuple[list[Path], list[Path]]:
    directories, files = [data_dir], []  # the files in DATA_DIR keep their own modes (the Nostr key is 0600)
    database = make_url(database_url).database if is_sqlite(database_url) else None
    if database and database != ":memory:":
        path = Path(database)
        directories.append(path.parent)
        files += [path, *(path.with_name(path.name + suffix) for suffix in SQLITE_COMPANIONS)]
    return directories, [path for path in files if path.exists()]


def _tighten(path: Path, mode: int) -> None:
    """Only what the node's user owns: a file of another user is reported, never taken over."""
    found = path.stat()
    if found.st_uid == os.geteuid() and stat.S_IMODE(found.st_mode) & ~mode:
        path.chmod(mode)


def _check(paths: list[Path]) -> list[str]:
    warnings = []
    for path in paths:
        mode = stat.S_IMODE(path.stat().st_mode)
        if mode & 0o022 and not (path.is_dir() and mode & stat.S_ISVTX):
            raise InsecureStorage(f"{path} can be written by other users (mode {mode:o}); make it the node's alone")
        if mode & 0o077:
            warnings.append(f"{path} can be read by other users (mode {mode:o}) and it holds the node's money")
    return warnings
