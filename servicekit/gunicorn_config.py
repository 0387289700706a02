"""gunicorn's settings for every API (`gunicorn -c python:servicekit.gunicorn_config`).

- Its own lines (start-up, worker boots, one per request) are the same JSON lines as the app's;
  a request's line carries the trace and span ids its response's `traceparent` header gave.
- Idle keep-alive connections stay open 75 s (gunicorn's default is 2 s), longer than the
  60 s idle timeout of common load balancers and client pools: a client reusing a connection
  the server had just closed would see a reset. gthread workers park idle connections in
  their poller, so this costs no thread.
- No control socket: gunicorn 27 opens one at a fixed path in the home directory by default,
  the same path for every API on the machine; nothing here uses it.
"""

import os

from servicekit.observability import AccessLineTraceFilter, logging_dict_config

logconfig_dict = logging_dict_config(
    os.environ.get("GUNICORN_SERVICE_NAME", "api"), os.environ.get("GUNICORN_LOG_LEVEL", "INFO")
)
logconfig_dict["filters"] = {"access_trace": {"()": AccessLineTraceFilter}}
logconfig_dict["loggers"] |= {
    "gunicorn.error": {"handlers": ["json"], "propagate": False},
    "gunicorn.access": {"handlers": ["json"], "filters": ["access_trace"], "propagate": False},
}
accesslog = "-"
keepalive = 75
access_log_format = '%(h)s "%(r)s" %(s)s %(B)s %(M)sms'
control_socket_disable = True
