"""The node's tables. Alembic migrations are written against this metadata; amounts are integer msat."""

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    Column,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
)

metadata = MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_N_name)s",
        "uq": "uq_%(table_name)s_%(column_0_N_name)s",
        "ck": "ck_%(table_name)s_%(constraint_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)

# One row per API key. The key itself is never stored, only its sha256.
api_keys = Table(
    "api_keys",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("key_hash", String(64), nullable=False, unique=True),
    Column("balance_msat", BigInteger, nullable=False, default=0),
    Column("reserved_msat", BigInteger, nullable=False, default=0),
    Column("created_at", BigInteger, nullable=False),
    CheckConstraint("balance_msat >= 0", name="balance_not_negative"),
    CheckConstraint("reserved_msat >= 0 AND reserved_msat <= balance_msat", name="reserved_within_balance"),
)

# Money held back for a request in flight. Deleting the row is what settles or releases it, exactly once.
reservations = Table(
    "reservations",
    metadata,
    Column("request_id", String(64), primary_key=True),
    Column("key_id", Integer, ForeignKey("api_keys.id"), nullable=False),
    Column("amount_msat", BigInteger, nullable=False),
    Column("created_at", BigInteger, nullable=False),
)

# Append-only: every change of a balance writes one row. amount_msat is signed (credit > 0, debit < 0).
ledger_entries = Table(
    "ledger_entries",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("key_id", Integer, ForeignKey("api_keys.id"), nullable=False),
    Column("kind", String(16), nullable=False),
    Column("amount_msat", BigInteger, nullable=False),
    Column("balance_after_msat", BigInteger, nullable=False),
    Column("request_id", String(64), nullable=True),
    Column("ref", String(128), nullable=True),
    Column("created_at", BigInteger, nullable=False),
    Index("ix_ledger_entries_key_id", "key_id"),
    Index("ix_ledger_entries_request_id", "request_id"),
)
