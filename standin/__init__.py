"""A fast OpenAI-compatible upstream stand-in for tests, the embedded default mode and the benchmark."""

from standin.server import StandinServer, start_standin

__all__ = ["StandinServer", "start_standin"]
