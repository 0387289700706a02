"""The real stack's parts, run for tests and benchmarks alike: throwaway PostgreSQL databases
and Kafka topics (`scratch`), the whole shop as real processes (`shop`), the search indexer as
a real faust process (`search`), and a minimal service on the event backbone (`ledger`).

Not shipped with the services: it needs the repository and the local stack (`make up`)."""
