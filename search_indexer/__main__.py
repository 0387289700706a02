"""`python -m search_indexer api|worker|rebuild`.

- worker: the faust app indexing product events into Elasticsearch.
- api: the search API under gunicorn (port `SEARCH_PORT`, default 8003).
- rebuild: the zero-downtime rebuild of the index from the products topic.
"""

from __future__ import annotations

import os
import sys

from search_indexer.config import Settings, load_settings
from search_indexer.deployable import DEPLOYABLE, run_worker


def main(argv: list[str]) -> int:
    command = argv[0] if argv else ""
    if command not in DEPLOYABLE.commands:
        print(f"usage: python -m search_indexer {'|'.join(DEPLOYABLE.commands)}", file=sys.stderr)
        return 2
    settings = load_settings()
    if command == "worker":
        return run_worker(settings)
    if command == "api":
        return serve_api(settings)
    return rebuild(settings)


def serve_api(settings: Settings) -> int:
    from servicekit.cli import exec_gunicorn

    return exec_gunicorn(
        f"servicekit.deployable:create_app({DEPLOYABLE.package!r})",
        bind=f"{settings.bind_host}:{settings.port}",
        workers=int(os.environ.get("WEB_CONCURRENCY", "2")),
        threads=4,
        logging=(settings.service_name, settings.log_level),
    )


def rebuild(settings: Settings) -> int:
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


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
