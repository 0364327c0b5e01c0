"""`python -m standin --host 127.0.0.1 --port N`: run the OpenAI-compatible stand-in until interrupted."""

import argparse
import asyncio
import contextlib
import logging
from collections.abc import Coroutine
from typing import Any

from standin.server import start_standin

log = logging.getLogger("standin")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m standin", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8001, help="0 picks a free port (logged at start)")
    parser.add_argument("--no-uvloop", action="store_true", help="use the stock asyncio event loop")
    return parser.parse_args(argv)


async def serve(host: str, port: int) -> None:
    server = await start_standin(host, port)
    log.info("standin.listening url=%s", server.url)
    try:
        await server.serve_forever()
    finally:
        await server.close()


def run(main: Coroutine[Any, Any, None], use_uvloop: bool) -> None:
    if use_uvloop:
        try:
            import uvloop
        except ImportError:
            pass
        else:
            uvloop.run(main)
            return
    asyncio.run(main)


def main() -> None:
    args = parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    with contextlib.suppress(KeyboardInterrupt):
        run(serve(args.host, args.port), use_uvloop=not args.no_uvloop)


if __name__ == "__main__":
    main()
