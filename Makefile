# The two commands of the README: `make up` (the stack, the services, a demo checkout) and
# `make test` (set up whatever is missing, then every test against the real stack).
.PHONY: up down status test bootstrap stack services demo lint bench

bootstrap:
	infra/bootstrap

stack: bootstrap
	infra/stack up

services: stack
	infra/services/ctl up

up: services
	.venv/bin/python -m scripts.demo_checkout

demo:
	.venv/bin/python -m scripts.demo_checkout

down:
	-infra/services/ctl down
	infra/stack down

status:
	@infra/stack status
	@infra/services/ctl status

# The lint runs first, so CI (which calls exactly `make test`) keeps the code lint-clean.
# pytest's exit code 5 means it collected no test: say so instead of failing the build.
test: lint stack
	@.venv/bin/python -m pytest $(PYTEST_ARGS); status=$$?; \
	if [ $$status -eq 5 ]; then echo "pytest collected no tests"; exit 0; fi; exit $$status

# mypy checks the packages listed under [tool.mypy] in pyproject.toml (not tests/);
# lint-imports the import layers under [tool.importlinter] (domain imports no adapter, services
# never import each other, eventing no service, contracts no adapter).
lint: bootstrap
	.venv/bin/ruff check .
	.venv/bin/ruff format --check .
	.venv/bin/mypy
	.venv/bin/lint-imports --no-cache

# Benchmarks against the local stack (bench/README.md): tables, bench/results/*.json and a plot.
bench: stack
	.venv/bin/python -m bench
