#!/usr/bin/env bash
# `make run-cluster`: the demo on two edge nodes of one Erlang cluster, on
# $PORT and $PORT+1, sharing the chat rooms through Ferry.PubSub
# (docs/CLUSTER.md). Open /chat on both ports and join the same room.
# Ctrl-C stops both.
set -euo pipefail
cd "$(dirname "$0")/.."
PORT=${PORT:-4000}
COOKIE=${FERRY_DEMO_COOKIE:-ferry_demo_$$}
HOST=$(hostname -s)
epmd -daemon
mix compile >/dev/null
pids=()
trap 'kill "${pids[@]}" 2>/dev/null; wait' EXIT INT TERM
PORT=$PORT FERRY_CLUSTER=ferry_demo_b@$HOST \
  elixir --sname ferry_demo_a --cookie "$COOKIE" -S mix run --no-compile --no-halt demo/demo.exs &
pids+=($!)
PORT=$((PORT + 1)) FERRY_CLUSTER=ferry_demo_a@$HOST \
  elixir --sname ferry_demo_b --cookie "$COOKIE" -S mix run --no-compile --no-halt demo/demo.exs &
pids+=($!)
wait -n
