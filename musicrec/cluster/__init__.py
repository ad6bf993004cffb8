"""Several replicas of each service behind nginx, with the events in a real redis-server.

`python -m musicrec serve --replicas N` (or `make cluster`) plans the topology (`topology`), starts
redis-server with its append-only file on (`redis_server`), N uvicorn processes per service on free
loopback ports, and nginx on the configured public URLs (`nginx`), then supervises them all
(`supervisor`). The recommendations replicas call the events and features services at the public
URLs, so their calls are balanced and retried by nginx too.
"""
