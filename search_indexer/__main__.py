"""`python -m search_indexer worker|api|rebuild`.

- worker: the faust app indexing product events into Elasticsearch.
- api: the search API under gunicorn (port `SEARCH_PORT`, default 8003).
- rebuild: the zero-downtime rebuild of the index from the products topic.
"""

from __future__ import annotations

import os
import sys


def main(argv: list[str]) -> int:
    command = argv[0] if argv else ""
    from search_indexer.config import load_settings

    settings = load_settings()
    if command == "worker":
        from search_indexer.app import create_faust_app
        from servicekit.observability import setup_observability

        setup_observability(settings.service_name, settings.log_level)
        app = create_faust_app(settings)
        # No faust web server: it would bind 0.0.0.0, and nothing here needs it.
        # --quiet: no banner on stdout, which would break the JSON lines.
        sys.argv = [
            "search-indexer",
            "--quiet",
            "worker",
            "--without-web",
            "--loglevel",
            settings.log_level.lower(),
        ]
        app.main()
        return 0
    if command == "api":
        from servicekit.cli import exec_gunicorn

        return exec_gunicorn(
            "search_indexer.api:create_app()",
            bind=f"{settings.bind_host}:{settings.port}",
            workers=int(os.environ.get("WEB_CONCURRENCY", "2")),
            threads=4,
            logging=(settings.service_name, settings.log_level),
        )
    if command == "rebuild":
        from search_indexer.index import ProductIndex, client
        from search_indexer.rebuild import rebuild

        report = rebuild(
            settings.kafka(), ProductIndex(client(settings.elasticsearch_url), settings.index_alias)
        )
        print(
            f"rebuilt {report.new_index} from {report.events} events: "
            f"{report.documents} products (replaced {', '.join(report.old_indices) or 'none'})"
        )
        return 0
    print("usage: python -m search_indexer worker|api|rebuild", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
