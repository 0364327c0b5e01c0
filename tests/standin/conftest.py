from tests.fixtures.standin import standin_url

__all__ = ["standin_url"]
