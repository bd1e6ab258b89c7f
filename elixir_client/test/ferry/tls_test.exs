defmodule Ferry.TlsTest do
  # A listener with `tls:` from Elixir: the conn says :https and what TLS
  # negotiated, a bad file is refused naming it, reload_tls/1 reaches new
  # connections, and kill -9 of the Rust process with a TLS client connected.
  # The client is Erlang's :ssl; certificates come from the openssl CLI.
  use ExUnit.Case, async: false
  import ExUnit.CaptureLog

  defmodule Info do
    use Ferry.Router

    get "/info" do
      %{ssl_cert: nil} = Ferry.Conn.get_peer_data(conn)
      %{version: version, sni: sni} = Ferry.Conn.tls_info(conn)
      "#{conn.scheme} #{version} #{sni} #{conn.port}"
    end
  end

  @name Ferry.TlsTest.HTTPS

  setup_all do
    {:ok, _} = Application.ensure_all_started(:ssl)
    dir = Path.join(System.tmp_dir!(), "ferry-tls-test-#{System.unique_integer([:positive])}")
    File.mkdir_p!(dir)
    on_exit(fn -> File.rm_rf!(dir) end)

    for name <- ["a", "b"] do
      {_, 0} =
        System.cmd("openssl", ~w(req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes
          -keyout #{dir}/#{name}.key -out #{dir}/#{name}.pem -days 2 -subj /CN=localhost
          -addext subjectAltName=DNS:localhost), stderr_to_stdout: true)
    end

    %{dir: dir}
  end

  defp start(tls) do
    start_supervised!({Ferry, name: @name, port: 0, ip: {127, 0, 0, 1}, router: Info, tls: tls})
    Ferry.port_number(@name)
  end

  defp get(port) do
    {:ok, s} =
      :ssl.connect(~c"localhost", port, [:binary, active: false, verify: :verify_none,
        server_name_indication: ~c"localhost"], 10_000)

    :ok = :ssl.send(s, "GET /info HTTP/1.1\r\nhost: localhost:#{port}\r\nconnection: close\r\n\r\n")
    {:ok, cert} = :ssl.peercert(s)
    {cert, read_all(s, "")}
  end

  defp read_all(s, acc) do
    case :ssl.recv(s, 0, 10_000) do
      {:ok, data} -> read_all(s, acc <> data)
      {:error, _} -> acc
    end
  end

  test "a request over TLS: scheme :https, version and SNI", %{dir: dir} do
    port = start(certfile: "#{dir}/a.pem", keyfile: "#{dir}/a.key")
    {_, response} = get(port)
    assert response =~ "200 OK"
    assert response =~ "https tlsv1.3 localhost #{port}"
  end

  test "a missing certificate file is refused, naming it", %{dir: dir} do
    log =
      capture_log(fn ->
        assert {:error, {:bad_option, :tls}} =
                 Ferry.start_link(name: @name, port: 0, router: Info, tls: [certfile: "#{dir}/nope.pem"])
      end)

    assert log =~ "nope.pem"
  end

  test "reload_tls/1: a new connection gets the new certificate", %{dir: dir} do
    for ext <- ["pem", "key"], do: File.cp!("#{dir}/a.#{ext}", "#{dir}/live.#{ext}")
    port = start(certfile: "#{dir}/live.pem", keyfile: "#{dir}/live.key")
    {a, _} = get(port)
    for ext <- ["pem", "key"], do: File.cp!("#{dir}/b.#{ext}", "#{dir}/live.#{ext}")
    assert :ok = Ferry.reload_tls(@name)
    {b, response} = get(port)
    assert a != b
    assert response =~ "200 OK"
  end

  test "kill -9 of the Rust process with a TLS client connected: served again", %{dir: dir} do
    port = start(certfile: "#{dir}/a.pem", keyfile: "#{dir}/a.key")
    {:ok, held} = :ssl.connect(~c"localhost", port, [:binary, active: false, verify: :verify_none], 10_000)
    %{os_pid: old} = Ferry.info(@name)
    {_, 0} = System.cmd("kill", ["-9", Integer.to_string(old)])
    assert {:error, _} = :ssl.recv(held, 0, 5_000)

    response =
      Enum.find_value(1..100, fn _ ->
        try do
          {_, r} = get(port)
          r =~ "200 OK" and r
        catch
          _, _ -> Process.sleep(100) && false
        end
      end)

    assert response =~ "https tlsv1.3"
    assert Ferry.info(@name).os_pid != old
  end
end
