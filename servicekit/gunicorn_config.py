"""gunicorn's settings for every API (`gunicorn -c python:servicekit.gunicorn_config`).

- Its own lines (start-up, worker boots, one per request) are the same JSON lines as the app's;
  a request's line carries the trace and span ids its response's `traceparent` header gave.
- Idle keep-alive connections stay open 75 s (gunicorn's default is 2 s), longer than the
  60 s idle timeout of common load balancers and client pools: a client reusing a connection
  the server had just closed would see a reset. gthread workers park idle connections in
  their poller, so this costs no thread.
- No control socket: gunicorn 27 opens one at a fixed path in the home directory by default,
  the same path for every API on the machine; nothing here uses it.
- Request lines up to 8190 bytes (gunicorn's most; its default is 4094), so a long query string
  reaches the app and gets the app's answer (a 422 naming the parameter).
- A worker that exits (a graceful stop, `max_requests`) flushes its spans and metrics first:
  each worker exports its own, and the last interval's requests would be lost otherwise.
- What gunicorn itself refuses before the app sees it (a longer request line: 414, headers too
  large: 431, a malformed request: 400) is answered as problem+json like every other error,
  not with gunicorn's HTML page (see `servicekit.gunicorn_errors`).
"""

import os

from servicekit import gunicorn_errors
from servicekit.observability import (
    AccessLineTraceFilter,
    logging_dict_config,
    shutdown_telemetry,
)

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
limit_request_line = 8190
gunicorn_errors.answer_with_problems()


def worker_exit(_server: object, _worker: object) -> None:
    shutdown_telemetry()
