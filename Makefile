# eldercare — `make run` serves the whole platform; `make test` runs the linters and every test.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
PG_VERSION = $(shell ls /etc/postgresql 2>/dev/null | head -n 1)

.PHONY: run test lint services browser translations worker beat clean

$(VENV)/.runtime: requirements.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -r requirements.txt
	touch $@

$(VENV)/.dev: $(VENV)/.runtime requirements-dev.txt
	$(BIN)/pip install -q -r requirements-dev.txt
	touch $@

# Compiled catalogues are build output (ignored by git): rebuilt whenever a .po changes.
translations: $(VENV)/.runtime
	$(BIN)/pybabel -q compile -d eldercare/translations -D messages

run: $(VENV)/.runtime translations
	$(BIN)/flask --app eldercare serve

# Production processes (see README "Production"); they need REDIS_URL and DATABASE_URL.
worker: $(VENV)/.runtime
	$(BIN)/celery -A worker worker -Q alarms,dispatch,notify,default --loglevel INFO
beat: $(VENV)/.runtime
	$(BIN)/celery -A worker beat --loglevel INFO

# Start PostgreSQL and Redis where they are installed but stopped (CI machines start them already).
services:
	@if [ -n "$(PG_VERSION)" ] && ! pg_isready -q -h 127.0.0.1 -p 5432; then \
		pg_ctlcluster --skip-systemctl-redirect $(PG_VERSION) main start; fi
	@for i in $$(seq 1 30); do pg_isready -q -h 127.0.0.1 -p 5432 && break; sleep 1; done
	@if command -v redis-server >/dev/null && ! redis-cli -h 127.0.0.1 ping >/dev/null 2>&1; then \
		redis-server --daemonize yes --bind 127.0.0.1 --port 6379 --save "" --appendonly no; fi
	@for i in $$(seq 1 30); do redis-cli -h 127.0.0.1 ping >/dev/null 2>&1 && break; sleep 1; done

# Headless Chromium from Debian's packages (a test tool's own browser download fails on these machines),
# with a CJK font so the Chinese consoles render as text, not boxes, in screenshots.
browser:
	@test -x /usr/bin/chromium -a -x /usr/bin/chromedriver -a -e /usr/share/fonts/truetype/wqy/wqy-microhei.ttc || { \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
			chromium chromium-driver fonts-wqy-microhei; }

lint: $(VENV)/.dev
	$(BIN)/ruff check .

test: $(VENV)/.dev translations services browser lint
	$(BIN)/python -m pytest

clean:
	rm -rf $(VENV) instance
