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
# HTTPS too, on HTTPS_PORT (default PORT + 443: 4443; any free one when
# PORT is 0), with TLS_CERTFILE / TLS_KEYFILE, or else a self-signed
# certificate for localhost made by openssl on first start (tmp/, ignored by git).
https_port =
  case System.get_env("HTTPS_PORT") do
    nil when port == 0 -> 0
    nil -> port + 443
    text -> String.to_integer(text)
  end

tls =
  case {System.get_env("TLS_CERTFILE"), System.get_env("TLS_KEYFILE")} do
    {cert, key} when is_binary(cert) and is_binary(key) ->
      [certfile: cert, keyfile: key]

    _ ->
      dir = Path.expand("tmp/tls", File.cwd!())
      cert = Path.join(dir, "localhost.pem")
      key = Path.join(dir, "localhost.key")

      unless File.exists?(cert) and File.exists?(key) do
        File.mkdir_p!(dir)

        {_, 0} =
          System.cmd("openssl", ~w(req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes
            -keyout #{key} -out #{cert} -days 365 -subj /CN=localhost
            -addext subjectAltName=DNS:localhost,IP:127.0.0.1), stderr_to_stdout: true)

        IO.puts("made a self-signed certificate for localhost: #{cert}")
      end

      [certfile: cert, keyfile: key]
  end

children = [
  Demo.Chat.Rooms,
  {Ferry, name: Demo.HTTP, port: port, router: Demo.Router, max_body: 16 * 1024 ** 3},
  Supervisor.child_spec(
    {Ferry, name: Demo.HTTPS, port: https_port, router: Demo.Router, tls: tls},
    id: Demo.HTTPS
  )
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

IO.puts(
  "HTTPS (self-signed unless TLS_CERTFILE is set): curl -k https://localhost:#{Ferry.port_number(Demo.HTTPS)}/hello"
)

IO.puts("  (Ctrl-C twice to stop)")

# The supervisor is linked to this process, which must outlive the script.
Process.sleep(:infinity)
