"""gunicorn settings for the local identity provider (the console's own are in gunicorn.conf.py)."""

workers = 1
threads = 8
timeout = 60
loglevel = "warning"
control_socket_disable = True
