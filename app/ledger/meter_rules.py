"""The metering rules, defined once: reserve, settle and release as SQL steps with named parameters (`:name`) and
named results, which every database runs in the same order.

SQLite runs the steps one by one inside the writer thread's transaction (app.ledger.metering). PostgreSQL runs
them inside `meter_batch()`, a PL/pgSQL function generated here from the same steps (installed by the migrations,
checked against this module by the tests) that takes many operations in one round trip and one transaction.

The rules: a reservation holds money only when the available balance covers it; a settlement deletes its
reservation (so it happens once), charges the actual cost but never more than was reserved, writes the charge to
the ledger and what it could not charge to `uncharged_usage`; a release deletes the reservation and gives the held
money back. Deleting the reservation is what decides, so a release racing a settlement moves the money once."""

import re
from dataclasses import dataclass, field

OK = "ok"
REFUSED = "refused"  # a reserve the available balance (or an unknown key) did not cover
GONE = "gone"  # a settle or release of a reservation already settled or released

# Every name a step may use, with its PostgreSQL type: the operation's inputs, then what steps find out.
INPUTS = {
    "request_id": "text",
    "key_hash": "text",
    "amount_msat": "bigint",
    "cost_msat": "bigint",
    "ref": "text",
    "owner": "text",
    "now": "bigint",
}
RESULTS = {"key_id": "int", "held_msat": "bigint", "charged_msat": "bigint", "balance_msat": "bigint"}


@dataclass(frozen=True, slots=True)
class Step:
    """One statement. `returning` names what it yields (name, SQL expression); `stop_unless_found` is the
    operation's status when it yields no row, which ends the operation there (otherwise what it yields is NULL)."""

    sql: str
    returning: tuple[tuple[str, str], ...] = ()
    stop_unless_found: str | None = None
    statement: str = field(init=False)  # the SQL with its RETURNING clause, as run
    names: tuple[str, ...] = field(init=False)  # what it yields, in the order of its RETURNING clause

    def __post_init__(self) -> None:
        returning = ", ".join(f"{expr} AS {name}" for name, expr in self.returning)
        object.__setattr__(self, "statement", f"{self.sql} RETURNING {returning}" if returning else self.sql)
        object.__setattr__(self, "names", tuple(name for name, _ in self.returning))


@dataclass(frozen=True, slots=True)
class Operation:
    name: str
    steps: tuple[Step, ...]


KEY_ENABLED = " AND disabled_at IS NULL"  # a key the operator disabled cannot pay (migration 0007)

_FREE_RESERVATION = Step(
    "DELETE FROM reservations WHERE request_id = :request_id",
    returning=(("key_id", "key_id"), ("held_msat", "amount_msat")),
    stop_unless_found=GONE,
)

RESERVE = Operation(
    "reserve",
    (
        Step(
            "UPDATE api_keys SET reserved_msat = reserved_msat + :amount_msat"
            " WHERE key_hash = :key_hash AND balance_msat - reserved_msat >= :amount_msat" + KEY_ENABLED,
            returning=(("key_id", "id"),),
            stop_unless_found=REFUSED,
        ),
        Step(
            "INSERT INTO reservations (request_id, key_id, amount_msat, owner, created_at)"
            " VALUES (:request_id, :key_id, :amount_msat, :owner, :now)"
        ),
    ),
)

SETTLE = Operation(
    "settle",
    (
        Step(
            _FREE_RESERVATION.sql,
            returning=(
                *_FREE_RESERVATION.returning,
                ("charged_msat", "CASE WHEN :cost_msat < amount_msat THEN :cost_msat ELSE amount_msat END"),
            ),
            stop_unless_found=GONE,
        ),
        Step(
            "UPDATE api_keys SET balance_msat = balance_msat - :charged_msat,"
            " reserved_msat = reserved_msat - :held_msat WHERE id = :key_id",
            returning=(("balance_msat", "balance_msat"),),
        ),
        Step(
            "INSERT INTO ledger_entries (key_id, kind, amount_msat, balance_after_msat, request_id, ref, created_at)"
            " SELECT :key_id, 'charge', -:charged_msat, :balance_msat, :request_id, :ref, :now WHERE :charged_msat > 0"
        ),
        Step(
            "INSERT INTO uncharged_usage (request_id, key_id, cost_msat, uncharged_msat, created_at)"
            " SELECT :request_id, :key_id, :cost_msat, :cost_msat - :charged_msat, :now"
            " WHERE :cost_msat > :charged_msat"
        ),
    ),
)

RELEASE = Operation(
    "release",
    (_FREE_RESERVATION, Step("UPDATE api_keys SET reserved_msat = reserved_msat - :held_msat WHERE id = :key_id")),
)

OPERATIONS = (RESERVE, SETTLE, RELEASE)

# PostgreSQL: one array per input, one row per operation back (its 1-based position, status and named results).
BATCH_FUNCTION = "meter_batch"
BATCH_CALL = (
    f"SELECT * FROM {BATCH_FUNCTION}($1::text[], "
    + ", ".join(f"${n}::{kind}[]" for n, kind in enumerate(INPUTS.values(), start=2))
    + ")"
)
_PARAMETER = re.compile(r"(?<![:\w]):([a-z_]+)")


def _plpgsql(sql: str) -> str:
    """A step's SQL with each `:name` replaced by the PL/pgSQL variable holding it."""

    def variable(match: re.Match[str]) -> str:
        name = match.group(1)
        if name not in INPUTS and name not in RESULTS:
            raise KeyError(f"metering step uses an undeclared name :{name}")
        return f"v_{name}"

    return _PARAMETER.sub(variable, sql)


def _plpgsql_step(step: Step) -> list[str]:
    into = f" INTO {', '.join(f'v_{name}' for name in step.names)}" if step.names else ""
    lines = [f"{_plpgsql(step.statement)}{into};"]
    if step.stop_unless_found:
        lines.append(f"IF NOT FOUND THEN status := '{step.stop_unless_found}'; EXIT one_op; END IF;")
    return lines


def _plpgsql_dispatch() -> list[str]:
    lines = []
    for n, operation in enumerate(OPERATIONS):
        lines.append(f"{'IF' if n == 0 else 'ELSIF'} p_op[i] = '{operation.name}' THEN")
        lines.extend("    " + line for step in operation.steps for line in _plpgsql_step(step))
    lines += ["ELSE", "    RAISE EXCEPTION 'unknown metering operation %', p_op[i];", "END IF;"]
    return lines


def batch_function_body() -> str:
    """The PL/pgSQL body of `meter_batch()`: each operation's steps, in order, for every element of the arrays."""
    declare = [f"v_{name} {kind};" for name, kind in (INPUTS | RESULTS).items()]
    load = [f"v_{name} := p_{name}[i];" for name in INPUTS] + [f"v_{name} := NULL;" for name in RESULTS]
    publish = [f"{name} := v_{name};" for name in RESULTS]
    loop = [*load, "idx := i;", "status := 'ok';", "<<one_op>>", "BEGIN"]
    loop += ["    " + line for line in _plpgsql_dispatch()]
    loop += ["END one_op;", *publish, "RETURN NEXT;"]
    return "\n".join(
        [
            "#variable_conflict use_column",  # inside statements a bare name is a column, never an output
            "DECLARE",
            "    i int;",
            *("    " + line for line in declare),
            "BEGIN",
            "    FOR i IN 1 .. coalesce(array_length(p_op, 1), 0) LOOP",
            *("        " + line for line in loop),
            "    END LOOP;",
            "END",
        ]
    )


def batch_function_signature() -> str:
    return f"{BATCH_FUNCTION}(text[], {', '.join(f'{kind}[]' for kind in INPUTS.values())})"


def create_batch_function() -> str:
    parameters = ", ".join(["p_op text[]", *(f"p_{name} {kind}[]" for name, kind in INPUTS.items())])
    columns = ", ".join(["idx int", "status text", *(f"{name} {kind}" for name, kind in RESULTS.items())])
    return (
        f"CREATE OR REPLACE FUNCTION {BATCH_FUNCTION}({parameters}) RETURNS TABLE ({columns})"
        f" LANGUAGE plpgsql AS $body$\n{batch_function_body()}\n$body$"
    )
