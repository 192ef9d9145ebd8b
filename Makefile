# Two commands on a fresh machine with only Python 3.11 and make:
#   make run   - the whole system on embedded SQLite + filesystem broker, with demo data
#   make test  - the whole test suite (PostgreSQL/Redis when DATABASE_URL/REDIS_URL are set)
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
HOST ?= 127.0.0.1
PORT ?= 8000
ARGS ?=

.PHONY: install run test migrate seed clean

$(VENV)/.installed: requirements.txt
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info[:2] >= (3, 11) else "Python 3.11 or newer is needed")'
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check --upgrade pip
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements.txt
	touch $@

install: $(VENV)/.installed

migrate: install
	$(PY) manage.py migrate --noinput

seed: migrate
	$(PY) manage.py seed_demo --if-empty

run: seed
	$(PY) manage.py sweep
	HOST=$(HOST) PORT=$(PORT) bash config/run_embedded.sh

test: install
	$(PY) -m pytest -c config/pytest.ini --rootdir . $(ARGS)

clean:
	rm -rf var
