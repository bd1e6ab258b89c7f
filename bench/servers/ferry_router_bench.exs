# Ferry with an Elixir Ferry.Router route, as the benchmark runs it (from
# elixir_client/, so the `ferry` application is the project's own build):
#   MIX_ENV=prod mix run --no-compile ../bench/servers/ferry_router_bench.exs PORT SHARDS BINARY
# The listener options are bench_ferry:listener_opts/3, the same as the
# Erlang run's; only the router differs.
defmodule BenchRouter do
  use Ferry.Router

  get "/" do
    conn
    |> put_resp_header("content-type", "text/plain")
    |> send_resp(200, "Hello, world!")
  end
end

[port, shards, bin] = System.argv()
port = String.to_integer(port)
true = Code.prepend_path(Path.expand("../target/bench/ebin", File.cwd!()))
opts = :bench_ferry.listener_opts(port, String.to_integer(shards), bin)
{:ok, _} = Ferry.start_link([name: :bench, router: BenchRouter] ++ Map.to_list(opts))
IO.puts("ready #{port}")
# The listener is linked to this process: keep it.
Process.sleep(:infinity)
