#!/usr/bin/env bash
# `make bench`: Ferry side by side with mochiweb, yaws, inets httpd, a
# BEAM-less tiny_http server and the floor (a bare mio loop doing no work);
# for WebSocket, Ferry and yaws with the Rust client bench/ws_client/.
# Installs what is missing, builds release binaries and the bench servers,
# then runs bench/harness/main.py, which
# prints the table and writes bench/results/results.md and bench.png.
#
#   BENCH_QUICK=1 bash bench/run.sh        smoke run, about 2 minutes
#   bash bench/run.sh                      full run, about 15 minutes
#   BENCH_SERVERS=ferry_erl,mochiweb BENCH_SCENARIOS=1 bash bench/run.sh
#
# See bench/README.md for what each scenario measures.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD

have() { dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q 'install ok installed'; }
need=()
for pkg in wrk erlang-mochiweb yaws gnuplot-nox python3; do
  have "$pkg" || need+=("$pkg")
done
if [ "${#need[@]}" -gt 0 ]; then
  echo "bench: installing ${need[*]}"
  SUDO=""
  [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq
  # The yaws package ships a system service; nothing here needs it running.
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${need[@]}"
fi

echo "bench: building release binaries"
cargo build --release --locked
cargo build --release --locked --example tiny_http_baseline --example floor --example ws_client
mkdir -p erl/priv && cp target/release/ferry erl/priv/ferry
(cd erl && rebar3 compile) || echo "bench: WARNING: erl/ does not build; Ferry rows will fail"
(cd elixir_client && MIX_ENV=prod mix compile) \
  || echo "bench: WARNING: elixir_client/ does not build; the Ferry.Router row will fail"

echo "bench: compiling the bench servers"
mkdir -p target/bench/ebin
erlc -pa /usr/lib/yaws/ebin -pa erl/_build/default/lib/ferry/ebin -o target/bench/ebin bench/servers/*.erl

# Scenarios 3, 8 and 10 hold 10,000 connections: the server needs that many descriptors
# (the machine allows 20,000 per process).
ulimit -n 20000 2>/dev/null || ulimit -n "$(ulimit -Hn)"

exec python3 bench/harness/main.py
