"""The node's tables. Alembic migrations are written against this metadata; amounts are integer msat."""

from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    Column,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    text,
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

CHARGE_ROWS = "kind = 'charge'"
OPERATION_ROWS = "kind IN ('deposit', 'refund', 'refund_reversed')"  # rows whose ref is a mint operation's id


def partial_index_where(condition: str) -> dict[str, Any]:
    """A partial index's condition, on both databases."""
    return {"sqlite_where": text(condition), "postgresql_where": text(condition)}


# One row per API key. The key itself is never stored, only its sha256.
api_keys = Table(
    "api_keys",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("key_hash", String(64), nullable=False, unique=True),
    Column("balance_msat", BigInteger, nullable=False, default=0),
    Column("reserved_msat", BigInteger, nullable=False, default=0),
    Column("created_at", BigInteger, nullable=False),
    Column("disabled_at", BigInteger, nullable=True),  # set by the operator: a disabled key cannot pay
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
    Column("owner", String(64), nullable=True),  # boot id of the process serving the request (app/db/leases.py)
)

# Usage served above its reservation: never charged (the reservation is the most a request costs the user), so the
# operator's loss, kept per request so that it can be seen and summed.
uncharged_usage = Table(
    "uncharged_usage",
    metadata,
    Column("request_id", String(64), primary_key=True),
    Column("key_id", Integer, ForeignKey("api_keys.id"), nullable=False),
    Column("cost_msat", BigInteger, nullable=False),
    Column("uncharged_msat", BigInteger, nullable=False),
    Column("created_at", BigInteger, nullable=False),
)

# Append-only: every change of a balance writes one row. amount_msat is signed (credit > 0, debit < 0). Each
# operation moves money at most once: one charge per request, one row per kind per mint operation (ref is its id).
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
    Index("ux_ledger_entries_charge_request_id", "request_id", unique=True, **partial_index_where(CHARGE_ROWS)),
    Index("ux_ledger_entries_operation_kind_ref", "kind", "ref", unique=True, **partial_index_where(OPERATION_ROWS)),
)

# Ecash the node holds (its assets), per mint. A proof is held, promised to an operation in flight, or spent.
wallet_proofs = Table(
    "wallet_proofs",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("mint_url", String(255), nullable=False),
    Column("unit", String(16), nullable=False),
    Column("keyset_id", String(66), nullable=False),
    Column("amount", BigInteger, nullable=False),
    Column("secret", String(128), nullable=False, unique=True),
    Column("c", String(66), nullable=False),
    Column("state", String(16), nullable=False),  # held | reserved | spent
    Column("operation_id", String(32), nullable=True),  # the operation that holds it reserved or spent it
    Column("created_at", BigInteger, nullable=False),
    CheckConstraint("amount > 0", name="amount_positive"),
    Index("ix_wallet_proofs_mint_state", "mint_url", "state"),
)

# The journal of every exchange with a mint (deposit, refund, lightning mint). What is needed to finish or undo it
# (the swap plan with our blinding factors) is written before the request goes out, so a crash at any point can be
# settled later with NUT-07 and NUT-09.
cashu_operations = Table(
    "cashu_operations",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("kind", String(16), nullable=False),  # deposit | refund | lightning
    Column("purpose", String(16), nullable=False),  # create | bearer | topup | xcashu | refund
    Column("state", String(16), nullable=False),  # planned | completed | failed
    Column("mint_url", String(255), nullable=False),
    Column("token_hash", String(64), nullable=True, unique=True),  # deposits: a token is credited once, ever
    Column("target_key_hash", String(64), nullable=True),  # the key the money goes to or comes from
    Column("key_id", Integer, ForeignKey("api_keys.id"), nullable=True),
    Column("amount_msat", BigInteger, nullable=False, default=0),
    Column("plan", Text, nullable=True),  # JSON swap/mint plan; spent inputs are scrubbed once settled
    Column("result", Text, nullable=True),  # refunds: the token handed out, so a lost reply can be fetched again
    Column("error", String(64), nullable=True),
    Column("created_at", BigInteger, nullable=False),
    Column("updated_at", BigInteger, nullable=False),
    # unresolved tries with the mint so far, and when the next may start (backoff; parked after a cap)
    Column("attempts", Integer, nullable=False, server_default="0"),
    Column("next_try_at", BigInteger, nullable=False, server_default="0"),
    Index("ix_cashu_operations_state", "state"),
    Index("ix_cashu_operations_key_id", "key_id"),
)

# Named claims held by one process until they expire (app/db/leases.py): a process's liveness, ownership of a mint
# operation, leadership of a periodic job.
leases = Table(
    "leases",
    metadata,
    Column("name", String(128), primary_key=True),
    Column("owner", String(64), nullable=False),
    Column("expires_at", Float, nullable=False),
)

# The operator's admin credential (its scrypt hash, never the password) under a name ("password").
admin_secrets = Table(
    "admin_secrets",
    metadata,
    Column("name", String(32), primary_key=True),
    Column("value", Text, nullable=False),
    Column("updated_at", BigInteger, nullable=False),
)

# Admin sessions: the sha256 of each random session token, until it expires or the operator logs out.
admin_sessions = Table(
    "admin_sessions",
    metadata,
    Column("token_hash", String(64), primary_key=True),
    Column("created_at", BigInteger, nullable=False),
    Column("expires_at", BigInteger, nullable=False),
)

# NIP-90 job requests (kind 5050) the node has taken, by event id: a job is run once, however often relays deliver
# it. `state`: taken -> answered -> done, or failed | payment_required | refunded (a new event with payment
# is a new job). `owner`: boot id of the process running it (app/db/leases.py); a dead owner's unfinished job is
# recovered by another process: its answer published again, or what the customer holds refunded.
dvm_jobs = Table(
    "dvm_jobs",
    metadata,
    Column("event_id", String(64), primary_key=True),
    Column("pubkey", String(64), nullable=False),
    Column("state", String(24), nullable=False),
    Column("owner", String(64), nullable=True),
    Column("answer", Text, nullable=True),  # JSON list of the signed events that answer it, kept until published
    Column("encrypted", Boolean, nullable=False, server_default=text("false")),  # answers sealed
    Column("sealing", String(8), nullable=True),  # how: "nip04" or "nip44" (NULL: NIP-44)
    Column("cost_msat", BigInteger, nullable=True),
    Column("created_at", BigInteger, nullable=False),
    Column("updated_at", BigInteger, nullable=False),
    Index("ix_dvm_jobs_state", "state"),
)
