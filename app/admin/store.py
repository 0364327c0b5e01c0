"""The admin credential and sessions in SQL. Each function returns work for `Database.run` (one transaction)."""

from sqlalchemy import Connection, delete, insert, select, update

from app.db.database import Work
from app.db.tables import admin_secrets, admin_sessions, api_keys

PASSWORD = "password"


def password_hash() -> Work[str | None]:
    def work(conn: Connection) -> str | None:
        value = conn.scalar(select(admin_secrets.c.value).where(admin_secrets.c.name == PASSWORD))
        return str(value) if value is not None else None

    return work


def set_password_hash(value: str, now: int) -> Work[None]:
    """Replace the password and end every session opened with the old one."""

    def work(conn: Connection) -> None:
        conn.execute(delete(admin_secrets).where(admin_secrets.c.name == PASSWORD))
        conn.execute(insert(admin_secrets).values(name=PASSWORD, value=value, updated_at=now))
        conn.execute(delete(admin_sessions))

    return work


def open_session(token_hash: str, now: int, expires_at: int) -> Work[None]:
    def work(conn: Connection) -> None:
        conn.execute(delete(admin_sessions).where(admin_sessions.c.expires_at <= now))
        conn.execute(insert(admin_sessions).values(token_hash=token_hash, created_at=now, expires_at=expires_at))

    return work


def session_alive(token_hash: str, now: int) -> Work[bool]:
    def work(conn: Connection) -> bool:
        query = select(admin_sessions.c.token_hash).where(
            admin_sessions.c.token_hash == token_hash, admin_sessions.c.expires_at > now
        )
        return conn.scalar(query) is not None

    return work


def end_session(token_hash: str) -> Work[None]:
    def work(conn: Connection) -> None:
        conn.execute(delete(admin_sessions).where(admin_sessions.c.token_hash == token_hash))

    return work


def set_disabled(key_id: int, disabled_at: int | None) -> Work[bool]:
    """Disable (a time) or enable (None) a key; False when there is no such key. Moves no money."""

    def work(conn: Connection) -> bool:
        found = conn.execute(update(api_keys).where(api_keys.c.id == key_id).values(disabled_at=disabled_at))
        return found.rowcount == 1

    return work
