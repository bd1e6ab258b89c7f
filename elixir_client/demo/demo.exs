# The demo of `make run`: `mix run --no-halt demo/demo.exs` from elixir_client/.
# PORT picks the port (default 4000). The routes are in demo/lib/demo/router.ex.
port =
  case Integer.parse(System.get_env("PORT", "4000")) do
    {port, ""} when port in 0..65535 ->
      port

    _ ->
      raise ArgumentError,
            "PORT must be a TCP port number, got: #{inspect(System.get_env("PORT"))}"
  end

# When the Rust process dies, ferry logs the exit and, once a new one is
# listening, "the Rust process restarted (os pid …)": the demo shows those lines.
# max_body is raised from its default (docs/OPTIONS.md) so /upload can show a
# body of several GiB going through in constant memory.
# Demo.Chat.Rooms keeps who is in which chat room.
children = [
  Demo.Chat.Rooms,
  {Ferry, name: Demo.HTTP, port: port, router: Demo.Router, max_body: 16 * 1024 ** 3}
]

{:ok, _} = Supervisor.start_link(children, strategy: :one_for_one, name: Demo.Supervisor)

# `make run-cluster` (demo/run_cluster.sh): FERRY_CLUSTER names the other
# demo node; once connected, chat rooms are shared through Ferry.PubSub.
for peer <- String.split(System.get_env("FERRY_CLUSTER", ""), ",", trim: true) do
  peer = String.to_atom(peer)

  Task.start(fn ->
    Enum.find(1..100, fn _ -> Node.connect(peer) || (Process.sleep(200) && false) end)
  end)
end

IO.puts(Demo.Banner.text("http://localhost:#{Ferry.port_number(Demo.HTTP)}"))
IO.puts("  (Ctrl-C twice to stop)")

# The supervisor is linked to this process, which must outlive the script.
Process.sleep(:infinity)
