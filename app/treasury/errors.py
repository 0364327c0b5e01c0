"""What the treasury refuses, and the one race it reports for a retry."""

from app.errors import NodeError


class RefundInProgress(NodeError):
    default_message = "a refund of this key is in progress; ask again shortly to get its token"


class ProofsTaken(Exception):
    """Another transaction took some of the proofs a refund chose (raised after writing: the transaction rolls
    back). The refund is planned again."""
