"""routstr-node: sell OpenAI-compatible LLM access for Cashu ecash."""

__version__ = "0.1.0"
