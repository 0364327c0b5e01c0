"""Run database work. Domain code hands in plain functions of a SQLAlchemy `Connection`; each runs in one transaction.

SQLite has one writer per file, so every statement goes through a single writer thread that groups queued work into
one `BEGIN IMMEDIATE` transaction (group commit): no "database is locked" in-process, one fsync per batch, and
`BEGIN IMMEDIATE` plus a busy timeout keeps other processes on the same file correct. PostgreSQL uses a pooled async
engine (asyncpg), a transaction per call, and group commit for batch functions (`call_batched`).

Contract for work functions: raise a `NodeError` only before writing anything, so that a refusal never needs a
rollback of the other work in the same batch. Any other exception rolls the batch back and each item is retried alone.
"""

import asyncio
import logging
import queue
import threading
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar

import asyncpg
from sqlalchemy import Connection, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import create_async_engine
from sqlalchemy.pool import StaticPool

from app.db.urls import driver_url, ensure_sqlite_dir, is_sqlite
from app.errors import NodeError

T = TypeVar("T")
Work = Callable[[Connection], T]

log = logging.getLogger(__name__)


class Database(Protocol):
    async def run(self, work: Work[T], *, metering: bool = False) -> T:
        """Run `work` in one transaction. `metering=True` marks the per-request hot path: SQLite commits it without
        waiting for the disk (it survives a crash of the process, not of the machine; a power cut may cost the
        operator the last few charges, never a user their money). PostgreSQL meters through `call_batched`."""
        ...

    async def close(self) -> None: ...


def open_database(
    url: str, *, sqlite_synchronous: str = "FULL", sqlite_metering_synchronous: str = "NORMAL", max_batch: int = 256
) -> Database:
    if is_sqlite(url):
        return SqliteDatabase(
            url, synchronous=sqlite_synchronous, fast_synchronous=sqlite_metering_synchronous, max_batch=max_batch
        )
    return PostgresDatabase(url)


@dataclass(slots=True)
class _Job:
    work: Work[Any]
    future: "asyncio.Future[Any]"
    loop: asyncio.AbstractEventLoop
    metering: bool


@dataclass(slots=True)
class _Outcome:
    value: Any = None
    error: BaseException | None = None


class SqliteDatabase:
    def __init__(self, url: str, *, synchronous: str, fast_synchronous: str, max_batch: int) -> None:
        ensure_sqlite_dir(url)
        self._engine = create_engine(driver_url(url), poolclass=StaticPool)
        _configure_sqlite(self._engine, synchronous)
        self._synchronous = {True: synchronous, False: fast_synchronous}
        self._durable_now = True
        self._queue: queue.SimpleQueue[_Job | None] = queue.SimpleQueue()
        self._max_batch = max_batch
        self._thread = threading.Thread(target=self._serve, name="sqlite-writer", daemon=True)
        self._thread.start()

    async def run(self, work: Work[T], *, metering: bool = False) -> T:
        loop = asyncio.get_running_loop()
        future: asyncio.Future[T] = loop.create_future()
        self._queue.put(_Job(work, future, loop, metering))
        return await future

    async def close(self) -> None:
        self._queue.put(None)
        await asyncio.to_thread(self._thread.join)
        self._engine.dispose()

    def _serve(self) -> None:
        """Serve batches until closed. A connection that cannot be opened (another process holds the file locked
        past the busy timeout) fails the work waiting for it and is tried again for the next: the thread never dies
        with callers waiting on it."""
        while True:
            try:
                with self._engine.connect() as conn:
                    while (batch := self._next_batch()) is not None:
                        _deliver(batch, self._run_batch(conn, batch))
                    return
            except Exception as exc:  # noqa: BLE001 - handed to the callers, never lost with the thread
                log.error("db.sqlite_connect_failed error=%s", type(exc).__name__)
                if (waiting := self._next_batch()) is None:
                    return
                _deliver(waiting, [_Outcome(error=exc) for _ in waiting])

    def _next_batch(self) -> list[_Job] | None:
        first = self._queue.get()
        if first is None:
            return None
        batch = [first]
        while len(batch) < self._max_batch:
            try:
                job = self._queue.get_nowait()
            except queue.Empty:
                break
            if job is None:
                self._queue.put(None)
                break
            batch.append(job)
        return batch

    def _set_durability(self, conn: Connection, batch: list[_Job]) -> None:
        durable = not all(job.metering for job in batch)
        if durable != self._durable_now:
            # on the driver itself: outside any transaction, where SQLite takes the change
            driver: Any = conn.connection.driver_connection
            driver.execute(f"PRAGMA synchronous={self._synchronous[durable]}")
            self._durable_now = durable

    def _run_batch(self, conn: Connection, batch: list[_Job]) -> list[_Outcome]:
        self._set_durability(conn, batch)
        try:
            with conn.begin():
                return [_attempt(conn, job.work) for job in batch]
        except Exception as exc:  # noqa: BLE001 - any failure goes back to the callers, item by item
            if len(batch) == 1:
                return [_Outcome(error=exc)]
            log.warning("db.batch_failed", extra={"size": len(batch), "error": type(exc).__name__})
            return [self._run_batch(conn, [job])[0] for job in batch]


def _attempt(conn: Connection, work: Work[Any]) -> _Outcome:
    try:
        return _Outcome(value=work(conn))
    except NodeError as refusal:
        return _Outcome(error=refusal)


def _deliver(batch: list[_Job], outcomes: list[_Outcome]) -> None:
    by_loop: dict[asyncio.AbstractEventLoop, list[tuple[_Job, _Outcome]]] = {}
    for job, outcome in zip(batch, outcomes, strict=True):
        by_loop.setdefault(job.loop, []).append((job, outcome))
    for loop, pairs in by_loop.items():
        try:
            loop.call_soon_threadsafe(_resolve, pairs)
        except RuntimeError:
            log.warning("db.result_dropped_loop_closed")


def _resolve(pairs: list[tuple[_Job, _Outcome]]) -> None:
    for job, outcome in pairs:
        if job.future.done():
            continue
        if outcome.error is not None:
            job.future.set_exception(outcome.error)
        else:
            job.future.set_result(outcome.value)


def _configure_sqlite(engine: Any, synchronous: str) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        dbapi_conn.isolation_level = None  # we issue BEGIN ourselves
        cursor = dbapi_conn.cursor()
        # the busy timeout first: switching a fresh file to WAL takes a lock that another process may hold
        cursor.execute("PRAGMA busy_timeout=10000")
        if str(cursor.execute("PRAGMA journal_mode").fetchone()[0]).lower() != "wal":
            cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute(f"PRAGMA synchronous={synchronous}")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Connection) -> None:
        conn.exec_driver_sql("BEGIN IMMEDIATE")


@dataclass(slots=True)
class _Call:
    args: tuple[Any, ...]
    future: "asyncio.Future[Mapping[str, Any]]"


class _GroupCommit:
    """Calls of one batch function queued while earlier batches are in flight go to the database together: one
    call with one array per argument, so one round trip and one transaction for all of them. The function returns
    one row per call, with the call's 1-based position in column `idx`. A batch that fails as a whole (e.g. a
    deadlock between two batches, or one bad call) is retried call by call, so a bad call fails alone."""

    def __init__(self, statement: str, pool: Callable[[], Awaitable[asyncpg.Pool]], max_in_flight: int) -> None:
        self._statement = statement
        self._pool = pool
        self._queued: list[_Call] = []
        self._in_flight = 0
        self._max_in_flight = max_in_flight
        self.batches: set[asyncio.Task[None]] = set()

    async def call(self, args: tuple[Any, ...]) -> Mapping[str, Any]:
        future: asyncio.Future[Mapping[str, Any]] = asyncio.get_running_loop().create_future()
        self._queued.append(_Call(args, future))
        self._start_batches()
        return await future

    def _start_batches(self) -> None:
        while self._queued and self._in_flight < self._max_in_flight:
            batch, self._queued = self._queued, []
            self._in_flight += 1
            task = asyncio.get_running_loop().create_task(self._run(batch))
            self.batches.add(task)
            task.add_done_callback(self._batch_done)

    def _batch_done(self, task: "asyncio.Task[None]") -> None:
        self.batches.discard(task)
        self._in_flight -= 1
        self._start_batches()

    async def _run(self, batch: list[_Call]) -> None:
        try:
            rows = await self._send(batch)
        except Exception as exc:  # noqa: BLE001 - retry each call alone, so that only a bad one fails
            if len(batch) == 1:
                _fail(batch[0].future, exc)
                return
            log.warning("db.group_commit_failed size=%d error=%s", len(batch), type(exc).__name__)
            await asyncio.gather(*(self._run([call]) for call in batch))
            return
        for call, row in zip(batch, rows, strict=True):
            if not call.future.done():
                call.future.set_result(row)

    async def _send(self, batch: list[_Call]) -> list[Mapping[str, Any]]:
        pool = await self._pool()
        columns = [list(column) for column in zip(*(call.args for call in batch), strict=True)]
        rows: list[asyncpg.Record] = await pool.fetch(self._statement, *columns)
        return [dict(row) for row in sorted(rows, key=lambda row: int(row["idx"]))]


class PostgresDatabase:
    """A pooled async engine for transactions, and a plain asyncpg pool for group-committed batch functions (the
    metering hot path), which do not wait for the WAL flush (the same trade as SQLite's NORMAL: a crash of the
    database server may lose the last few charges, never a deposit or a refund, which go through `run`)."""

    def __init__(self, url: str, *, metering_pool_size: int = 16, batches_in_flight: int = 2) -> None:
        self._engine = create_async_engine(driver_url(url), pool_size=8, max_overflow=8)
        self._dsn = make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)
        self._metering_pool_size = metering_pool_size
        self._pool: asyncpg.Pool | None = None
        self._pool_lock = asyncio.Lock()
        self._batches_in_flight = batches_in_flight
        self._group_commits: dict[str, _GroupCommit] = {}

    async def run(self, work: Work[T], *, metering: bool = False) -> T:
        async with self._engine.begin() as conn:
            return await conn.run_sync(work)

    async def call_batched(self, statement: str, args: tuple[Any, ...]) -> Mapping[str, Any]:
        """One call of the batch function `statement` (one array parameter per element of `args`), group-committed
        with the calls queued alongside it. Returns its row, by column name."""
        group = self._group_commits.get(statement)
        if group is None:
            group = self._group_commits[statement] = _GroupCommit(
                statement, self._metering_pool, self._batches_in_flight
            )
        return await group.call(args)

    async def _metering_pool(self) -> asyncpg.Pool:
        return self._pool or await self._open_pool()

    async def _open_pool(self) -> asyncpg.Pool:
        async with self._pool_lock:
            if self._pool is None:
                self._pool = await asyncpg.create_pool(
                    self._dsn,
                    min_size=1,
                    max_size=self._metering_pool_size,
                    server_settings={"synchronous_commit": "off"},
                    reset=_keep_session,
                )
            return self._pool

    async def close(self) -> None:
        batches = [task for group in self._group_commits.values() for task in group.batches]
        if batches:
            await asyncio.gather(*batches, return_exceptions=True)
        await self._engine.dispose()
        if self._pool is not None:
            await self._pool.close()


def _fail(future: "asyncio.Future[Mapping[str, Any]]", exc: BaseException) -> None:
    if not future.done():
        future.set_exception(exc)


async def _keep_session(_: asyncpg.Connection) -> None:
    """The metering pool's connections never change session state, so skip asyncpg's reset round trip (RESET ALL,
    UNLISTEN, ...) on every release."""
