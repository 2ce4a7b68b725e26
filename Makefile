# Thin aliases for the README commands (python3 dev.py ... does the work).
PYTHON ?= python3

.PHONY: run test lint openapi bench

run:
	$(PYTHON) dev.py run $(ARGS)

test:
	$(PYTHON) dev.py test $(ARGS)

lint:
	$(PYTHON) dev.py lint

openapi:
	$(PYTHON) dev.py openapi

bench:
	$(PYTHON) dev.py bench $(ARGS)
