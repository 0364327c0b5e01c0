pytest_plugins = [
    "tests.fixtures.databases",
    "tests.fixtures.standin",
    "tests.fixtures.node",
    "tests.fixtures.mint",
    "tests.fixtures.gate",
    "tests.fixtures.relay",
    "tests.fixtures.sdk",
    "tests.fixtures.lnurl",
]
