# Two commands on a fresh machine with only Python 3.11 and make:
#   make run   - the whole system on embedded SQLite + filesystem broker, with demo data
#   make test  - the linters (ruff check, ruff format --check, lint-imports), then the whole test suite (PostgreSQL/Redis when
#                DATABASE_URL/REDIS_URL are set); ARGS="..." passes pytest options
# The run path installs requirements.txt only (as the Docker image does); `make test` and `make lint` add
# requirements-dev.txt (pytest, schemathesis, Playwright, the linters).
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
HOST ?= 127.0.0.1
PORT ?= 8000
ARGS ?=
DAYS ?= 0

.PHONY: install install-dev lint run test migrate seed clean

PIP := $(PY) -m pip install --quiet --disable-pip-version-check

$(VENV)/.installed: requirements.txt
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info[:2] >= (3, 11) else "Python 3.11 or newer is needed")'
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PIP) --upgrade pip
	$(PIP) -r requirements.txt
	touch $@

$(VENV)/.installed-dev: $(VENV)/.installed requirements-dev.txt
	$(PIP) -r requirements-dev.txt
	touch $@

install: $(VENV)/.installed

install-dev: $(VENV)/.installed-dev

# ruff's rules and import-linter's contracts: pyproject.toml, .importlinter (docs/contributing.md).
lint: install-dev
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/lint-imports --no-logo

migrate: install
	$(PY) manage.py migrate --noinput

seed: migrate
	$(PY) manage.py seed_demo --if-empty --days $(DAYS)

run: seed
	$(PY) manage.py sweep
	HOST=$(HOST) PORT=$(PORT) bash config/run_embedded.sh

test: lint
	$(PY) -m pytest -c config/pytest.ini --rootdir . $(ARGS)

clean:
	rm -rf var
