"""gunicorn's own error responses as RFC 9457 problem documents.

gunicorn answers requests it cannot parse or that exceed its limits (414 request line too long,
431 headers too large, 400 malformed) before any application code runs, through one function,
`gunicorn.util.write_error`, which writes an HTML page. Its workers call it as `util.write_error`
at the time of the error, so replacing that attribute in the master, before the workers fork,
makes every such answer problem+json with the same status, reason and message.
"""

from __future__ import annotations

import json
import socket

from gunicorn import util


def problem_response(status: int, reason: str, message: str) -> bytes:
    """The whole HTTP response gunicorn writes for an error it detected itself."""
    # Imported here, in a worker that has loaded the app, not at configuration time: the
    # master would otherwise import Flask, pydantic and SQLAlchemy before it binds.
    from servicekit.problems import PROBLEM_JSON

    body = json.dumps(
        {"type": "about:blank", "title": reason, "status": status, "detail": message or reason}
    ).encode()
    head = (
        f"HTTP/1.1 {status} {reason}\r\n"
        "Connection: close\r\n"
        f"Content-Type: {PROBLEM_JSON}\r\n"
        f"Content-Length: {len(body)}\r\n"
        "\r\n"
    ).encode("latin-1")
    return head + body


def write_problem(sock: socket.socket, status_int: int, reason: str, mesg: str) -> None:
    """`gunicorn.util.write_error`'s signature, answering with a problem document."""
    util.write_nonblock(sock, problem_response(status_int, reason, mesg))


def answer_with_problems() -> None:
    util.write_error = write_problem
