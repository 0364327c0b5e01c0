"""DATABASE_URL in the forms operators write, turned into the driver URLs SQLAlchemy needs."""

from pathlib import Path

from sqlalchemy.engine import make_url


def is_sqlite(url: str) -> bool:
    return url.startswith("sqlite")


def driver_url(url: str) -> str:
    """sqlite -> pysqlite (driven from our own writer thread); postgres -> asyncpg."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        return parsed.set(drivername="sqlite+pysqlite").render_as_string(hide_password=False)
    if parsed.get_backend_name() in ("postgresql", "postgres"):
        return parsed.set(drivername="postgresql+asyncpg").render_as_string(hide_password=False)
    raise ValueError(f"unsupported DATABASE_URL backend: {parsed.get_backend_name()}")


def ensure_sqlite_dir(url: str) -> None:
    database = make_url(url).database
    if database and database != ":memory:":
        Path(database).parent.mkdir(parents=True, exist_ok=True)


def redacted(url: str) -> str:
    return make_url(url).render_as_string(hide_password=True)
