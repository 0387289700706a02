"""gunicorn's settings for every API (`gunicorn -c python:servicekit.gunicorn_config`).

- Its own lines (start-up, worker boots, one per request) are the same JSON lines as the app's.
- Idle keep-alive connections stay open 75 s (gunicorn's default is 2 s), longer than the
  60 s idle timeout of common load balancers and client pools: a client reusing a connection
  the server had just closed would see a reset. gthread workers park idle connections in
  their poller, so this costs no thread.
- No control socket: gunicorn 27 opens one at a fixed path in the home directory by default,
  the same path for every API on the machine; nothing here uses it.
"""

import os

from servicekit.observability import logging_dict_config

logconfig_dict = logging_dict_config(
    os.environ.get("GUNICORN_SERVICE_NAME", "api"), os.environ.get("GUNICORN_LOG_LEVEL", "INFO")
)
logconfig_dict["loggers"] |= {
    name: {"handlers": ["json"], "propagate": False}
    for name in ("gunicorn.error", "gunicorn.access")
}
accesslog = "-"
keepalive = 75
access_log_format = '%(h)s "%(r)s" %(s)s %(B)s %(M)sms'
control_socket_disable = True
