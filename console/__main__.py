"""`python -m console serve`: the operator console under gunicorn, like the services' APIs."""

from __future__ import annotations

import argparse
import os
import sys

from console.config import load_settings
from servicekit.cli import exec_gunicorn
from servicekit.settings import admin_token_refusal


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m console", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    serve = sub.add_parser("serve", help="serve the console (port CONSOLE_PORT, 8004)")
    serve.add_argument("--workers", type=int, default=int(os.environ.get("WEB_CONCURRENCY", "2")))
    serve.add_argument("--threads", type=int, default=8)
    args = parser.parse_args(argv)
    try:
        settings = load_settings()
    except ValueError as error:
        print(f"console: bad settings: {str(error).splitlines()[0]}", file=sys.stderr)
        return 2
    if refusal := admin_token_refusal(os.environ.get("EVENTSHOP_ENV", ""), settings.admin_token):
        print(f"console: {refusal}", file=sys.stderr)
        return 2
    return exec_gunicorn(
        "console.app:create_app()",
        bind=f"{settings.bind_host}:{settings.port}",
        workers=args.workers,
        threads=args.threads,
        logging=(settings.service_name, settings.log_level),
    )


if __name__ == "__main__":
    sys.exit(main())
