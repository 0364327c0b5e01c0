"""The admin credential: a password stored as an scrypt hash in the database (`python -m app admin set-password`)
and/or the ADMIN_TOKEN setting; a login opens a session whose random token is stored only as its sha256, until it
expires or the operator logs out. ADMIN_TOKEN also works as a bearer token directly."""

import asyncio
import hashlib
import hmac
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass

from app.admin import store
from app.admin.errors import AdminNotConfigured, AdminUnauthorized
from app.admin.passwords import hash_password, verify_password
from app.admin.throttle import LoginThrottle
from app.db.database import Database

constant_time_equal = hmac.compare_digest  # every comparison of a secret the operator holds goes through this


@dataclass(frozen=True, slots=True)
class Session:
    token: str
    expires_in_s: int


def _sha256(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


class AdminAuth:
    def __init__(
        self,
        db: Database,
        *,
        admin_token: str,
        session_ttl_s: int,
        clock: Callable[[], float] = time.time,
        throttle: LoginThrottle | None = None,
    ) -> None:
        self._db = db
        self._token_hash = _sha256(admin_token) if admin_token else None
        self._ttl_s = session_ttl_s
        self._clock = clock
        self._throttle = throttle or LoginThrottle()

    async def set_password(self, password: str) -> None:
        hashed = await asyncio.to_thread(hash_password, password)
        await self._db.run(store.set_password_hash(hashed, int(self._clock())))

    async def login(self, password: str, address: str) -> Session:
        self._throttle.check(address)
        if not await self._password_ok(password):
            self._throttle.failed(address)
            raise AdminUnauthorized("wrong admin password")
        self._throttle.succeeded(address)
        token = secrets.token_urlsafe(32)
        now = int(self._clock())
        await self._db.run(store.open_session(_sha256(token), now, now + self._ttl_s))
        return Session(token, self._ttl_s)

    async def _password_ok(self, password: str) -> bool:
        stored = await self._db.run(store.password_hash())
        if stored is None and self._token_hash is None:
            raise AdminNotConfigured()
        if self._is_admin_token(password):
            return True
        return stored is not None and await asyncio.to_thread(verify_password, password, stored)

    def _is_admin_token(self, candidate: str) -> bool:
        # hashes first: equal lengths, so the comparison's time says nothing about the token's length either
        return self._token_hash is not None and constant_time_equal(_sha256(candidate), self._token_hash)

    async def check(self, token: str | None, address: str) -> None:
        """Raise AdminUnauthorized unless `token` is ADMIN_TOKEN or an open session's token. Wrong tokens count as
        failed logins of `address`, so ADMIN_TOKEN cannot be guessed faster through the API than at the login."""
        if not token:
            raise AdminUnauthorized()
        self._throttle.check(address)
        if self._is_admin_token(token):
            return
        if not await self._db.run(store.session_alive(_sha256(token), int(self._clock()))):
            self._throttle.failed(address)
            raise AdminUnauthorized("admin session unknown or expired: log in again")

    async def logout(self, token: str) -> None:
        await self._db.run(store.end_session(_sha256(token)))
