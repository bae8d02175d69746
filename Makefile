# techfin — `make run` serves the demo, `make test` runs every test. See README.md.
SHELL := /bin/bash
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
FLASK := $(BIN)/flask --app wsgi
STAMP := $(VENV)/.installed
PG_URL ?= postgresql://postgres@127.0.0.1:5432/test
export PIP_DISABLE_PIP_VERSION_CHECK=1


.PHONY: run test install assets db demo index model serve lint format bench translations browser test-sqlite test-postgres clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[test]'
	touch $(STAMP)

install: $(STAMP) translations assets

# CSS/JS from the npm registry at install time, copied into static/vendor (no CDN at run time).
VENDOR := techfin/static/vendor
assets: $(VENDOR)/.stamp
$(VENDOR)/.stamp: package.json package-lock.json
	npm ci --no-audit --no-fund --ignore-scripts --loglevel=error
	mkdir -p $(VENDOR)/echarts $(VENDOR)/swagger-ui $(VENDOR)/tom-select
	cp node_modules/echarts/dist/echarts.common.min.js $(VENDOR)/echarts/
	cp node_modules/swagger-ui-dist/swagger-ui.css node_modules/swagger-ui-dist/swagger-ui-bundle.js $(VENDOR)/swagger-ui/
	cp node_modules/tom-select/dist/js/tom-select.complete.min.js node_modules/tom-select/dist/css/tom-select.bootstrap5.min.css $(VENDOR)/tom-select/
	touch $@

translations: $(STAMP)
	$(BIN)/pybabel compile -d techfin/translations -f --statistics

db: install
	$(FLASK) db upgrade

# Demo data only into an empty database, so `make run` twice keeps what you changed.
demo: db
	@if $(FLASK) demo-data --help >/dev/null 2>&1 && [ "$$($(BIN)/python -m techfin.tools.count_rows)" = "0" ]; then \
		$(FLASK) demo-data --enterprises 150 --seed 2026; \
	else $(FLASK) shell -c 'from techfin.services.demo import ensure_accounts; print("\n".join(ensure_accounts()))' 2>/dev/null || true; fi

index: demo
	@if $(FLASK) search --help >/dev/null 2>&1; then $(FLASK) search reindex; fi

model: index
	@if $(FLASK) matching --help >/dev/null 2>&1; then $(FLASK) matching train; fi

# The web server and the task worker (Procfile, run by honcho); one BLAS/OpenMP thread per
# process: two workers on two cores must not fight over them.
serve:
	$(BIN)/honcho start -f Procfile

run: model
	@echo "techfin on http://127.0.0.1:8000  (demo logins above; password demo-pass-2026)"
	$(MAKE) --no-print-directory serve

# Browser journeys need Debian's chromium and CJK fonts (Playwright cannot download browsers here).
browser:
	@if ! command -v chromium >/dev/null 2>&1 || ! command -v soffice >/dev/null 2>&1 \
		|| ! fc-list 2>/dev/null | grep -qi "noto sans cjk"; then \
		echo "installing chromium, fonts-noto-cjk and libreoffice-calc-nogui from Debian"; \
		(apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium fonts-noto-cjk libreoffice-calc-nogui >/dev/null) \
		|| echo "WARNING: could not install chromium / LibreOffice: the browser journeys and spreadsheet round trips will fail"; \
	fi

test: install browser
	$(BIN)/ruff check techfin tests bench
	$(BIN)/ruff format --check techfin tests bench
	$(MAKE) --no-print-directory test-sqlite
	$(MAKE) --no-print-directory test-postgres

test-sqlite: install
	@echo "== test suite on SQLite"
	$(BIN)/python -m pytest -q -p no:cacheprovider -n 2 --durations=15 --ignore=tests/e2e
	@echo "== browser journeys (their own run: the live server's in-process task consumer"
	@echo "   works the process-wide queue, which other tests point at queues of their own)"
	$(BIN)/python -m pytest -q -p no:cacheprovider -n 2 --dist loadfile tests/e2e

test-postgres: install
	@if $(BIN)/python -m techfin.tools.pg_ready "$(PG_URL)"; then \
		echo "== test suite on PostgreSQL ($(PG_URL))"; \
		TEST_DATABASE_URL="$(PG_URL)" $(BIN)/python -m pytest -q -p no:cacheprovider -n 2 tests/integration; \
	elif [ "$${CI:-}" = "true" ]; then \
		echo "PostgreSQL is not reachable at $(PG_URL): CI requires it"; exit 1; \
	else \
		echo "SKIPPED the PostgreSQL run: no server at $(PG_URL)"; \
	fi

# The README's pictures: the browser journeys, saving their shots into docs/screenshots.
.PHONY: screenshots
screenshots: install browser
	UPDATE_SCREENSHOTS=1 $(BIN)/python -m pytest -q -p no:cacheprovider tests/e2e

# Hostile-input run of /api/v1 (schemathesis, tests/integration/api/test_fuzz.py): 200 random
# cases per operation per role, on SQLite and then on PostgreSQL.
FUZZ_EXAMPLES ?= 200
.PHONY: fuzz
fuzz: install
	@echo "== API fuzz on SQLite ($(FUZZ_EXAMPLES) cases per operation per role)"
	FUZZ_EXAMPLES=$(FUZZ_EXAMPLES) FUZZ_RANDOM=1 $(BIN)/python -m pytest -q -p no:cacheprovider -n 2 -rA tests/integration/api/test_fuzz.py
	@if $(BIN)/python -m techfin.tools.pg_ready "$(PG_URL)"; then \
		echo "== API fuzz on PostgreSQL ($(PG_URL))"; \
		TEST_DATABASE_URL="$(PG_URL)" FUZZ_EXAMPLES=$(FUZZ_EXAMPLES) FUZZ_RANDOM=1 $(BIN)/python -m pytest -q -p no:cacheprovider -n 2 -rA tests/integration/api/test_fuzz.py; \
	else \
		echo "SKIPPED the PostgreSQL fuzz run: no server at $(PG_URL)"; \
	fi

lint: install
	$(BIN)/ruff check techfin tests bench
	$(BIN)/ruff format --check techfin tests bench

format: install
	$(BIN)/ruff check --fix techfin tests bench
	$(BIN)/ruff format techfin tests bench

# bench/scale.py (issue #12: 100 000 enterprises, about an hour) and bench/applications.py
# (issue #16: builds and keeps the 100 000-enterprise database scale_100k) are run by hand.
bench: install browser
	$(BIN)/pip install -q -e '.[test,bench]'
	@for b in bench/*.py; do case $$b in bench/scale.py|bench/applications.py) continue;; esac; echo "== $$b"; $(BIN)/python $$b || exit 1; done

clean:
	rm -rf $(VENV) instance .pytest_cache .ruff_cache
