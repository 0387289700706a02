"""gunicorn's settings for every API (`gunicorn -c python:servicekit.gunicorn_config`).

- Its own lines (start-up, worker boots, one per request) are the same JSON lines as the app's.
- No control socket: gunicorn 27 opens one at a fixed path in the home directory by default,
  which every API on a machine would fight over; nothing here uses it.
"""

import os

from servicekit.observability import logging_dict_config

_logging = logging_dict_config(
    os.environ.get("GUNICORN_SERVICE_NAME", "api"), os.environ.get("GUNICORN_LOG_LEVEL", "INFO")
)
_logging["loggers"] |= {
    name: {"handlers": ["json"], "propagate": False}
    for name in ("gunicorn.error", "gunicorn.access")
}
logconfig_dict = _logging
accesslog = "-"
access_log_format = '%(h)s "%(r)s" %(s)s %(B)s %(M)sms'
control_socket_disable = True
