# Two commands do all the set-up on a fresh machine (see README):
#   make run    install the app into .venv and start the dashboard
#   make test   install the app and the test tools, then run the whole test suite
PYTHON ?= python3
VENV ?= .venv
# The address the dashboard listens on: this machine only, unless told (ADDRESS=0.0.0.0 behind a proxy).
ADDRESS ?= 127.0.0.1
BIN = $(VENV)/bin

.PHONY: run test lint format system-tools

run: $(VENV)/installed-app
	$(BIN)/streamlit run dashboard/app.py --server.address=$(ADDRESS)

test: $(VENV)/installed-test system-tools
	$(BIN)/ruff check .
	$(BIN)/lint-imports
	$(BIN)/python -m pytest -q -rs

lint: $(VENV)/installed-test
	$(BIN)/ruff check .
	$(BIN)/lint-imports
	$(BIN)/ruff format --check .

format: $(VENV)/installed-test
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

$(BIN)/python:
	@$(PYTHON) -c 'import sys; assert (3, 10) <= sys.version_info[:2] <= (3, 12), "Python 3.10 to 3.12 is needed (mediapipe 0.10.21 has no wheel for " + sys.version.split()[0] + ")"'
	$(PYTHON) -m venv $(VENV)

$(VENV)/installed-app: requirements.txt constraints.txt | $(BIN)/python
	$(BIN)/pip install -r requirements.txt -c constraints.txt
	touch $@

$(VENV)/installed-test: requirements.txt requirements-test.txt constraints.txt | $(BIN)/python
	$(BIN)/pip install -r requirements-test.txt -c constraints.txt
	touch $@ $(VENV)/installed-app

# The end-to-end tests drive Debian's chromium; the handout tests render PDFs with poppler-utils
# (pdftoppm, pdftotext). Install what is missing when we may (root with apt-get).
system-tools:
	@missing=""; \
	command -v chromium >/dev/null 2>&1 || missing="$$missing chromium"; \
	command -v pdftoppm >/dev/null 2>&1 || missing="$$missing poppler-utils"; \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null; \
	  else \
	    echo "not installed:$$missing; the tests that need them are skipped (sudo apt-get install$$missing)"; \
	  fi; \
	fi
