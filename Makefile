# Ferry: the two commands a newcomer needs are `make run` and `make test`.
# Everything else here is a step of those two, or `make bench`.

CARGO      ?= cargo
FERRY_BIN  := target/release/ferry
PORT       ?= 4000

.PHONY: run run-cluster test bench bootstrap build test-rust test-erl test-elixir test-browser test-autobahn autobahn-full clean

## Start the demo Elixir application on $(PORT). `mix compile` builds the
## Erlang sources and, through its ferry_rust compiler, the Rust binary.
run: bootstrap
	cd elixir_client && PORT=$(PORT) mix run --no-halt demo/demo.exs

## The demo on two nodes of one Erlang cluster, on $(PORT) and $(PORT)+1, the
## chat rooms shared across them (docs/CLUSTER.md).
run-cluster: bootstrap
	PORT=$(PORT) bash elixir_client/demo/run_cluster.sh

## Every test suite: cargo, rebar3 eunit + ct, mix test, the chat page in chromium,
## Autobahn's WebSocket sections 1-7 and 10.
test: bootstrap build test-rust test-erl test-elixir test-browser test-autobahn

## Benchmarks side by side (not part of `make test`).
bench: bootstrap build
	bash bench/run.sh

## Install what a fresh Debian machine lacks (does nothing when it is all there).
bootstrap:
	@bash .ci/bootstrap

## The release binary, copied where the OTP app looks for it.
build:
	$(CARGO) build --release --locked
	mkdir -p erl/priv
	@# A rename, not a copy over: a running port keeps its old inode ("text file busy").
	cp $(FERRY_BIN) erl/priv/ferry.tmp && mv -f erl/priv/ferry.tmp erl/priv/ferry

test-rust: build
	FERRY_BIN=$(CURDIR)/$(FERRY_BIN) $(CARGO) test --release --locked
	@# The fuzz crate compiles ../src files by path: a check keeps it building.
	$(CARGO) check --manifest-path fuzz/Cargo.toml

test-erl: build
	cd erl && rebar3 eunit && rebar3 ct

test-elixir:
	cd elixir_client && mix test

## The demo's chat page and live dashboard in Debian's headless chromium, driven by
## playwright-core (installed by bootstrap); screenshots in
## elixir_client/_build/test/chat*.png and dashboard*.png.
test-browser: bootstrap
	cd elixir_client/test/browser && node chat.test.mjs && node dashboard.test.mjs

## Autobahn WebSocket conformance (kosoku, in a venv under target/autobahn)
## against the demo's /ws/echo: sections 1-7 and 10, about 250 cases in ~10 s.
test-autobahn: bootstrap build
	bash tests/autobahn/run.sh fast

## The slow sections: 9 (performance, up to 16 MiB messages) and 12-13
## (permessage-deflate, 1000 messages a case): about 270 cases, 7 minutes here.
autobahn-full: bootstrap build
	bash tests/autobahn/run.sh full

clean:
	$(CARGO) clean
	rm -rf _build priv erl/_build erl/priv/ferry elixir_client/_build elixir_client/priv/ferry \
	       elixir_client/test/browser/node_modules
