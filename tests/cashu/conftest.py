# Until the root conftest lists "tests.fixtures.mint" in pytest_plugins, take the mint fixtures from here.
from tests.fixtures.mint import mint, mint_fee, test_mints

__all__ = ["mint", "mint_fee", "test_mints"]
