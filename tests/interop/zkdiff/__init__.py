"""Differential testing of two ZooKeeper-protocol servers through kazoo.

The same seeded stream of operations runs against server A and server B, one step at a time; after
every step each side's results and the watch events every session saw are reduced to plain,
server-independent values (no zxids, no times, session ids replaced by session labels) and compared.
The stream is a function of the seed and of results already compared equal, so two correct servers
see exactly the same requests.

Modules: ``wire`` (the requests kazoo 2.11 lacks), ``session`` (one client with its event log),
``model`` (the generator's view of the namespace), ``ops`` (the operations and their generator),
``execute`` (running an operation and normalising its outcome), ``runner`` (the step loop).
"""
