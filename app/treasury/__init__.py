"""The node's treasury: the ecash it holds (proofs per mint) and the journal of every operation with a mint.

`store` holds the SQL work functions (one transaction each, crediting or debiting keys through the ledger in the same
transaction), `service.Treasury` is the async face the payments layer uses, `records` the dataclasses it hands out,
`report` the assets-against-liabilities report."""
