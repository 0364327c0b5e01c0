"""The request fields the node reads, type-checked the way OpenAI checks them: a wrong type or an out-of-range value
is a 400 `invalid_request_error` naming the field in `param`, before anything is reserved or sent upstream."""

from typing import Any

from app.errors import BadRequest

MAX_CHOICES = 128  # OpenAI's bound on `n`
MAX_BEST_OF = 20  # OpenAI's bound on `best_of` (legacy completions)

_JSON_TYPE_NAMES = {str: "a string", bool: "a boolean", int: "an integer", float: "a number"}


class InvalidType(BadRequest):
    pass


class BelowMinimum(BadRequest):
    pass


class AboveMaximum(BadRequest):
    pass


class InvalidValue(BadRequest):
    pass


def _json_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, dict):
        return "an object"
    if isinstance(value, list):
        return "an array"
    return _JSON_TYPE_NAMES.get(type(value), "a value of another type")


def optional_bool(value: Any, name: str) -> bool:
    """A boolean or null/absent (False): `"stream": "true"` is refused, as OpenAI refuses it."""
    if value is None:
        return False
    if not isinstance(value, bool):
        raise InvalidType(
            f"Invalid type for '{name}': expected a boolean, but got {_json_type(value)} instead.", param=name
        )
    return value


def optional_object(value: Any, name: str) -> dict[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise InvalidType(
            f"Invalid type for '{name}': expected an object, but got {_json_type(value)} instead.", param=name
        )
    return value


def optional_int(value: Any, name: str, minimum: int, maximum: int | None = None) -> int | None:
    """An integer within [minimum, maximum], or None when absent or null; booleans and floats are not integers."""
    if value is None:
        return None
    if not isinstance(value, int) or isinstance(value, bool):
        raise InvalidType(
            f"Invalid type for '{name}': expected an integer, but got {_json_type(value)} instead.", param=name
        )
    if value < minimum:
        raise BelowMinimum(
            f"Invalid '{name}': integer below minimum value. Expected a value >= {minimum}, but got {value} instead.",
            param=name,
        )
    if maximum is not None and value > maximum:
        raise AboveMaximum(
            f"Invalid '{name}': integer above maximum value. Expected a value <= {maximum}, but got {value} instead.",
            param=name,
        )
    return value
