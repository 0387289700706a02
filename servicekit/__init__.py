"""What every service process shares beyond messaging: settings, HTTP API plumbing
(problem+json, auth, validation, OpenAPI, health), database unit of work, workers, observability."""
