"""Cashu adapter (wallet side), written on coincurve + cbor2 + httpx.

crypto   NUT-00 BDHKE and NUT-12 DLEQ          tokens   Proof/Token, cashuA/cashuB codecs, mint URLs
keysets  NUT-01/02 keysets, fees, splits      messages wire shapes exchanged with a mint
client   MintClient: HTTP API, errors mapped  outputs  serialisable output plans -> proofs
wallet   receive/send/settle/mint flows       errors   NodeError subclasses with Routstr's codes
"""
