defmodule Ferry.ListenerTest do
  # The listener's life: options, port number, info, a killed Rust process,
  # and a stopped listener.
  use ExUnit.Case, async: false
  import ExUnit.CaptureLog
  import FerryTest.HTTP

  defmodule Hello do
    use Ferry.Router
    get "/", do: "hello"
  end

  @name Ferry.ListenerTest.HTTP

  defp start do
    start_supervised!({Ferry, name: @name, port: 0, ip: {127, 0, 0, 1}, router: Hello})
    Ferry.port_number(@name)
  end

  test "info mirrors the Erlang API and counts requests" do
    port = start()
    assert {200, _, "hello"} = request(:get, port, "/")
    info = Ferry.info(@name)
    assert %{port: ^port, restarts: 0, os_pid: os_pid, requests: requests} = info
    assert is_integer(os_pid) and os_pid > 0
    assert requests >= 1
  end

  test "kill -9 of the Rust process: the supervisor starts a new one and it serves" do
    port = start()
    assert {200, _, "hello"} = request(:get, port, "/")
    %{os_pid: old, restarts: restarts} = Ferry.info(@name)

    {_, 0} = System.cmd("kill", ["-9", Integer.to_string(old)])

    %{os_pid: new} =
      eventually(fn ->
        info = Ferry.info(@name)
        # os_pid is nil while the new process starts.
        is_integer(info.os_pid) and info.os_pid != old and info.restarts == restarts + 1 and info
      end)

    assert new != old
    refute os_alive?(old)
    assert {200, _, "hello"} = request(:get, Ferry.port_number(@name), "/")
  end

  test "stopping the listener ends the Rust process and closes the port" do
    port = start()
    %{os_pid: os_pid} = Ferry.info(@name)
    assert os_alive?(os_pid)

    :ok = stop_supervised(@name |> child_id())

    assert eventually(fn -> not os_alive?(os_pid) end)
    assert {:error, :econnrefused} = :gen_tcp.connect(~c"127.0.0.1", port, [:binary], 5_000)
  end

  test "Ferry.start_link/1 and Ferry.stop/1 outside a supervisor tree of ours" do
    {:ok, pid} =
      Ferry.start_link(
        name: Ferry.ListenerTest.Linked,
        port: 0,
        ip: {127, 0, 0, 1},
        router: Hello
      )

    assert is_pid(pid)
    port = Ferry.port_number(Ferry.ListenerTest.Linked)
    assert {200, _, "hello"} = request(:get, port, "/")
    %{os_pid: os_pid} = Ferry.info(Ferry.ListenerTest.Linked)
    assert :ok = Ferry.stop(pid)
    assert eventually(fn -> not os_alive?(os_pid) end)
    assert {:error, :econnrefused} = :gen_tcp.connect(~c"127.0.0.1", port, [:binary], 5_000)
  end

  test "Ferry.stop/1 of a listener started by :ferry.start_listener/2" do
    {:ok, _} =
      :ferry.start_listener(Ferry.ListenerTest.Own, %{port: 0, ip: {127, 0, 0, 1}, handler: Hello})

    %{os_pid: os_pid} = Ferry.info(Ferry.ListenerTest.Own)
    assert :ok = Ferry.stop(Ferry.ListenerTest.Own)
    assert eventually(fn -> not os_alive?(os_pid) end)
    assert {:error, :not_found} = Ferry.stop(Ferry.ListenerTest.Own)
  end

  test "options are checked before anything starts" do
    assert_raise ArgumentError, ~r/:bogus/, fn ->
      Ferry.child_spec(name: X, router: Hello, bogus: 1)
    end

    assert_raise ArgumentError, ~r/max_body/, fn ->
      Ferry.child_spec(name: X, router: Hello, max_body: -1)
    end

    assert_raise ArgumentError, ~r/name:/, fn -> Ferry.child_spec(router: Hello) end
    assert_raise ArgumentError, ~r/router:/, fn -> Ferry.child_spec(name: X) end
    assert_raise ArgumentError, ~r/handle\/1/, fn -> Ferry.child_spec(name: X, router: String) end

    assert_raise ArgumentError, ~r/not :handler/, fn ->
      Ferry.child_spec(name: X, router: Hello, handler: Hello)
    end

    assert_raise ArgumentError, ~r/more than once/, fn ->
      Ferry.child_spec(name: X, router: Hello, port: 1, port: 2)
    end
  end

  test "a value the Rust process refuses fails the start, naming the option" do
    spec = {Ferry, name: @name, port: 0, router: Hello, backlog: 0}
    assert {:error, reason} = start_supervised(spec)
    assert inspect(reason) =~ "{:bad_option, :backlog}"
  end

  test "a port already taken fails the start with eaddrinuse" do
    {:ok, socket} = :gen_tcp.listen(0, ip: {127, 0, 0, 1})
    {:ok, taken} = :inet.port(socket)
    spec = {Ferry, name: @name, port: taken, ip: {127, 0, 0, 1}, router: Hello}
    assert {:error, reason} = start_supervised(spec)
    assert inspect(reason) =~ "eaddrinuse"
  end

  test "the default port is 4000, as Bandit's and Phoenix's" do
    %{start: {_, _, [_name, opts]}} = Ferry.child_spec(name: X, router: Hello)
    assert opts.listen.port == 4000
    %{start: {_, _, [_name, opts]}} = Ferry.child_spec(name: X, router: Hello, port: 0)
    assert opts.listen.port == 0
  end

  test "an unknown option and a bad value say different things, and what is allowed" do
    error = assert_raise ArgumentError, fn -> Ferry.child_spec(name: X, router: Hello, prot: 80) end
    assert error.message =~ "unknown Ferry option :prot; the options are "
    assert error.message =~ ":port"

    error = assert_raise ArgumentError, fn -> Ferry.child_spec(name: X, router: Hello, shards: 0) end
    assert error.message == "bad value for Ferry option :shards: 0; it must be an integer 1..64"
  end

  test "start_link returns {:error, {:bad_option, key}} and logs what the value must be" do
    log =
      capture_log(fn ->
        assert {:error, {:bad_option, :max_request_line}} =
                 Ferry.start_link(name: @name, port: 0, router: Hello, max_request_line: 1)
      end)

    assert log =~ "ferry listener Ferry.ListenerTest.HTTP: could not start: option max_request_line => 1 must be an integer 16..1048576"
    refute log =~ "SUPERVISOR REPORT"
    refute log =~ "CRASH REPORT"
  end

  test "asking about a listener that does not run says so" do
    for fun <- [&Ferry.info/1, &Ferry.port_number/1] do
      assert_raise ArgumentError, "no Ferry listener named :nope is running", fn -> fun.(:nope) end
    end
  end

  test "the option doc states every default, as the Erlang app and docs/OPTIONS.md have them" do
    {:docs_v1, _, _, _, _, _, docs} = Code.fetch_docs(Ferry)
    [doc] = for {{:type, :option, 0}, _, _, %{"en" => doc}, _} <- docs, do: doc

    erl = Map.drop(:ferry_opts.defaults(), [:routes, :handler, :port])
    assert map_size(erl) >= 6

    # The bullet of `key` (up to the next bullet) says "Defaults to `value`".
    states = fn key, value ->
      doc =~ ~r/\* `#{Regex.escape(key)}`(?:(?!\n\s*\* ).)*Defaults\s+to\s+#{Regex.escape(value)}/s
    end

    for {key, value} <- erl do
      assert states.(inspect(key), "`#{inspect(value)}`"), "#{inspect(key)} default #{inspect(value)}"
    end

    assert states.(":port", "`4000`")

    md = File.read!(Path.expand("../../../docs/OPTIONS.md", __DIR__))
    rows = for "| `" <> row <- String.split(md, "\n"), do: String.split(row, " | ")
    assert length(rows) > 10

    for [key, _type, default | _] <- rows, key = String.trim_trailing(key, "`"), key not in ["ip", "port"] do
      assert states.(":#{key}", default), key
    end
  end

  defp child_id(name), do: Ferry.child_spec(name: name, router: Hello).id

  defp os_alive?(os_pid), do: File.exists?("/proc/#{os_pid}")
end
