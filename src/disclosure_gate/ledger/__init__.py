"""The cryptographic core of the disclosure ledger.

``merkle`` hashes the ledger as an RFC 6962 / RFC 9162 Merkle tree: leaf and
node hashing, an append-only compact range that emits every completed subtree
node for storage, inclusion and consistency proofs computed from stored nodes,
and the RFC 9162 verifiers.

``note`` publishes tree heads as C2SP signed notes (Ed25519): checkpoints
(c2sp.org/tlog-checkpoint) and witness cosignatures (c2sp.org/tlog-cosignature,
``cosignature/v1``), so an outside overseer can check and countersign them.

Nothing here touches a database; storage plugs in through ``merkle.NodeStore``.
"""
