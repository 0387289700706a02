"""`python -m storefront serve`: the storefront under gunicorn, like the console."""

from __future__ import annotations

import argparse
import os
import sys

from servicekit.cli import exec_gunicorn
from storefront.config import load_settings
from storefront.identity import signing_key_bytes


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m storefront", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    serve = sub.add_parser("serve", help="serve the storefront (port STOREFRONT_PORT, 8005)")
    serve.add_argument("--workers", type=int, default=int(os.environ.get("WEB_CONCURRENCY", "2")))
    serve.add_argument("--threads", type=int, default=8)
    args = parser.parse_args(argv)
    try:
        settings = load_settings()
        settings.session_secret(signing_key_bytes())
    except ValueError as error:
        print(f"storefront: bad settings: {str(error).splitlines()[0]}", file=sys.stderr)
        return 2
    return exec_gunicorn(
        "storefront.app:create_app()",
        bind=f"{settings.bind_host}:{settings.port}",
        workers=args.workers,
        threads=args.threads,
        logging=(settings.service_name, settings.log_level),
    )


if __name__ == "__main__":
    sys.exit(main())
