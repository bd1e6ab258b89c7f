defmodule Ferry.ListenerTest do
  # The listener's life: options, port number, info, a killed Rust process,
  # and a stopped listener.
  use ExUnit.Case, async: false
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

  defp child_id(name), do: Ferry.child_spec(name: name, router: Hello).id

  defp os_alive?(os_pid), do: File.exists?("/proc/#{os_pid}")
end
