# Ferry with an Elixir Ferry.Router route, as the benchmark runs it (from
# elixir_client/, so the `ferry` application is the project's own):
#   MIX_ENV=prod mix run --no-halt ../bench/servers/ferry_router_bench.exs PORT SHARDS BINARY
# Listener options are bench_ferry:listener_opts/3, the same as the Erlang run.
defmodule BenchRouter do
  use Ferry.Router

  get "/" do
    send_resp(conn, 200, "Hello, world!")
  end
end

[port, shards, bin] = System.argv()
port = String.to_integer(port)
opts = :bench_ferry.listener_opts(port, String.to_integer(shards), String.to_charlist(bin))
{:ok, _} = :ferry.start_listener(:bench, Map.put(opts, :handler, BenchRouter))
IO.puts("ready #{port}")
