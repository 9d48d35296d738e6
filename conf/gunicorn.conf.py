# gunicorn settings for `gunicorn -c conf/gunicorn.conf.py supernode.wsgi:application`.
# (`supernode` itself applies the same settings; this file is for running gunicorn directly.)
from supernode.server import start_background

# Both ports: the REST API (listenPort) and the CDN piece files (downloadPort).
bind = ["0.0.0.0:8002", "0.0.0.0:8001"]
# Exactly one worker: the scheduler's state lives in this one process's memory.
workers = 1
# gevent: thousands of held long-poll /peer/task calls cost a greenlet each.
worker_class = "gevent"
# Open connections the worker accepts at once, on each port (keep equal to maxConnections in
# supernode.yml). The per-source budget and the header/body deadlines come from supernode.yml
# (maxConnectionsPerSource, requestHeaderTimeout, requestBodyTimeout) through post_worker_init.
worker_connections = 10000
# Seconds a silent worker may take before it is restarted.
timeout = 120
# Seconds given to in-flight requests on shutdown.
graceful_timeout = 10
# Keep-alive seconds for client connections (dfget reuses connections); also the idle deadline.
keepalive = 75
# Largest request line (path and query), number of headers, and header size (larger: 400).
limit_request_line = 4094
limit_request_fields = 100
limit_request_field_size = 8190
# No control socket: two supernodes on one host would collide on ~/.gunicorn/gunicorn.ctl.
control_socket_disable = True
# Guard connections and start GC loops after the worker has forked.
post_worker_init = start_background
