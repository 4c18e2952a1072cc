"""gunicorn settings for the sandbox process (the console's own are in gunicorn.conf.py)."""

import os

bind = os.environ.get("SANDBOX_BIND", "127.0.0.1:8001")
workers = 1
threads = 8
timeout = 120
loglevel = "warning"
# gunicorn 27+ shares one control socket per user between every gunicorn it starts.
control_socket_disable = True
