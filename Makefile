# livedesk — the two front-door commands are `make run` and `make test`.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
ARGS   ?=
CODE   := $(wildcard signaling visual recorder transcribe web tests bench)

.PHONY: run test setup test-deps lint format unit integration browser bench bench-media bench-cluster bench-record bench-transcribe bench-cobrowse bench-fuzz bench-flood bench-soak bench-cycles clean

$(STAMP): pyproject.toml web/package.json web/package-lock.json
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	@if [ -f web/package.json ]; then cd web && npm ci --no-audit --no-fund; fi
	@touch $(STAMP)

setup: $(STAMP)

## Set up and start the server with a zero-config demo (memory store, SQLite, demo logins).
run: setup
	$(BIN)/livedesk run $(ARGS)

## Set up everything the tests need (Chromium, Redis) and run lint plus the whole suite.
test: setup test-deps lint
	$(BIN)/python -m pytest -q -p no:cacheprovider

test-deps:
	bash scripts/ensure-test-deps.sh

lint: setup
	$(BIN)/ruff check $(CODE)
	$(BIN)/ruff format --check $(CODE)
	$(BIN)/mypy

format: setup
	$(BIN)/ruff format $(CODE)
	$(BIN)/ruff check --fix $(CODE)

unit: setup
	$(BIN)/python -m pytest -q tests/unit
integration: setup test-deps
	$(BIN)/python -m pytest -q tests/integration
browser: setup test-deps
	$(BIN)/python -m pytest -q tests/browser

## Benchmarks print figures; they are not pass/fail tests.
bench: setup test-deps
	$(BIN)/python bench/chat_load.py $(ARGS)

## The media benchmark: forwarding vs a decode + re-encode relay (bench/README.md).
bench-media: setup
	$(BIN)/python bench/media_load.py $(ARGS)

## Several nodes on one Redis: media sessions held and chat messages/s on 1, 2, 4 nodes (bench/README.md).
bench-cluster: setup
	$(BIN)/python bench/cluster_load.py $(ARGS)

## The recording benchmark: what recording adds, vs aiortc's MediaRecorder (bench/README.md).
bench-record: setup
	$(BIN)/python bench/record_load.py $(ARGS)

## Co-browse: relay latency, bytes per minute, the customer page's long tasks vs no co-browsing.
bench-cobrowse: setup test-deps
	$(BIN)/python bench/cobrowse_load.py $(ARGS)

## Hardening (docs/THREAT_MODEL.md): 10,000 fuzz cases per message type; flood isolation;
## the 10-minute 2,000-socket soak; 1,000 media connect/disconnect cycles.
bench-fuzz: setup
	$(BIN)/python bench/fuzz.py $(ARGS)
bench-flood: setup
	$(BIN)/python bench/flood.py $(ARGS)
bench-soak: setup
	$(BIN)/python bench/soak.py $(ARGS)
bench-cycles: setup
	$(BIN)/python bench/media_cycles.py $(ARGS)

## Transcription quality and speed: plain pocketsphinx vs livedesk's pipeline (docs/transcription.md).
bench-transcribe: setup test-deps
	$(BIN)/python bench/transcribe_quality.py $(ARGS)

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache *.egg-info livedesk-data
