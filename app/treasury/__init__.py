"""The node's treasury: the ecash it holds (proofs per mint) and the journal of every operation with a mint.

The SQL work functions, one transaction each: `journal` (operation rows and their one conditional state move),
`proofs` (held, reserved, spent), and the money moves that credit or debit keys through the ledger in the same
transaction as the wallet change: `deposits`, `refunds`, `withdrawals`. `service.Treasury` is the async face the
payments layer uses, `records` the dataclasses it hands out, `report` the assets-against-liabilities report."""
