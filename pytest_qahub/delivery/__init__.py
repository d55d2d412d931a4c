"""The delivery side: everything that talks to a collector, outside the test process.

- the delivery process (``python -m pytest_qahub.delivery``: `process`), one per session,
  started and ended by the test process through `handle.DeliveryProcess`;
- what it runs: `checks` (the collector, the token, the run), `outbox` and `batches` (what
  waits, sent in batches, marked in the journal), `transport` (the interface), `connect`
  (HTTP in `http`, or the collector's own code in `embedded`);
- the ``qahub`` data commands (`commands`) and ``qahub replay`` (`replay`), on the same
  transports.

Importing this package imports nothing: the test process loads only `handle`.
"""
