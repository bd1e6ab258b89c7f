defmodule Ferry.WebSocketTest do
  # WebSock handlers through a real listener: the Rust binary, the port,
  # the Erlang ferry_websocket process and the adapter, driven by a raw
  # WebSocket client over :gen_tcp (test/support/ws_client.exs).
  use ExUnit.Case, async: false
  import ExUnit.CaptureLog
  import FerryTest.HTTP
  alias FerryTest.WS

  @listener Ferry.WebSocketTest.HTTP

  # Reports to the test process, when there is one (a terminate may come
  # after its test ended).
  defmodule Report do
    def report(message) do
      if pid = Process.whereis(Ferry.WebSocketTest.Waiter), do: send(pid, message)
    end
  end

  # Written as for Bandit (`@behaviour WebSock` would do the same): plain
  # functions, no `use`.
  defmodule Echo do
    def init(state) do
      Report.report({:init, self(), state})
      {:ok, state}
    end

    def handle_in({"close " <> detail, opcode: :text}, state) do
      [code, reason] = String.split(detail, " ", parts: 2)
      {:stop, :normal, {String.to_integer(code), reason}, state}
    end

    def handle_in({"last", opcode: :text}, state),
      do: {:stop, :normal, 1000, [{:text, "last words"}], state}

    def handle_in({"fail", opcode: :text}, state), do: {:stop, :failed_on_purpose, state}
    def handle_in({"crash", opcode: :text}, _state), do: raise("crash on purpose")
    def handle_in({data, opcode: opcode}, state), do: {:push, {opcode, data}, state}

    def handle_info({:push, frames}, state), do: {:push, frames, state}

    def terminate(reason, state), do: Report.report({:terminate, self(), reason, state})
  end

  # With `use`: the defaults of init/1, handle_info/2 and terminate/2.
  defmodule Counter do
    use Ferry.WebSock

    @impl true
    def handle_in({_data, opcode: :text}, count), do: {:push, {:text, "#{count + 1}"}, count + 1}
  end

  defmodule Control do
    use Ferry.WebSock

    @impl true
    def handle_in(_frame, state), do: {:ok, state}

    @impl true
    def handle_control({data, opcode: opcode}, state),
      do: {:push, {:text, "#{opcode} #{data}"}, state}
  end

  defmodule Grouped do
    use Ferry.WebSock

    @impl true
    def init(group) do
      :ok = Ferry.WebSocket.join(group)
      Report.report({:conn, self(), Ferry.WebSocket.self_conn()})
      {:ok, group}
    end

    @impl true
    def handle_in({"leave", opcode: :text}, group) do
      :ok = Ferry.WebSocket.leave(group)
      {:push, {:text, "left"}, group}
    end

    def handle_in({"echo " <> text, opcode: :text}, group), do: {:push, {:text, text}, group}

    def handle_in({text, opcode: :text}, group) do
      :ok = Ferry.WebSocket.publish_from(group, {:text, "from a peer: " <> text})
      {:ok, group}
    end
  end

  defmodule Routes do
    use Ferry.Router

    websocket("/echo", Echo, :echo_state)
    websocket("/plain", Echo, :plain, compress: false)
    websocket("/lazy", Echo, :lazy, hibernate_after: 200)
    websocket("/rooms/:room", Echo, %{room: room})
    websocket("/counter", Counter, 0)
    websocket("/control", Control)
    websocket("/groups/:group", Grouped, group)

    get "/proto" do
      conn
      |> put_resp_header("x-route", "proto")
      |> upgrade_websocket(Echo, :proto, protocol: "chat.v2", headers: [{"x-extra", "1"}])
    end

    get "/private" do
      case get_req_header(conn, "authorization") do
        ["Bearer yes"] -> upgrade_websocket(conn, Echo, :private)
        _ -> {401, "who are you?"}
      end
    end

    get "/hello", do: "hello"
  end

  setup do
    Process.register(self(), Ferry.WebSocketTest.Waiter)
    start_supervised!({Ferry, name: @listener, port: 0, ip: {127, 0, 0, 1}, router: Routes})
    %{port: Ferry.port_number(@listener)}
  end

  defp handler_pid(state) do
    assert_receive {:init, pid, ^state}, 10_000
    pid
  end

  test "a WebSock handler echoes text and binary, with the upgrade's state", %{port: port} do
    ws = WS.connect!(port, "/echo")
    handler_pid(:echo_state)
    :ok = WS.send_text(ws, "hello")
    assert {:text, "hello"} = WS.recv(ws)
    :ok = WS.send_binary(ws, <<0, 255, 1>>)
    assert {:binary, <<0, 255, 1>>} = WS.recv(ws)

    # Fragments reach the handler as one message.
    :ok = WS.send_frame(ws, 0x1, "frag", fin: false)
    :ok = WS.send_frame(ws, 0x0, "ment")
    assert {:text, "fragment"} = WS.recv(ws)

    big = :crypto.strong_rand_bytes(200_000)
    :ok = WS.send_binary(ws, big)
    assert {:binary, ^big} = WS.recv(ws)
    assert {1000, _} = close_code(WS.close(ws))
  end

  test "hibernate_after: an idle handler hibernates, and answers when woken", %{port: port} do
    ws = WS.connect!(port, "/lazy")
    pid = handler_pid(:lazy)

    hibernating? = fn ->
      Process.info(pid, :current_function) == {:current_function, {:erlang, :hibernate, 3}}
    end

    wait_until(hibernating?)
    :ok = WS.send_text(ws, "wake")
    assert {:text, "wake"} = WS.recv(ws)
    wait_until(hibernating?)
    assert {1000, _} = close_code(WS.close(ws))
  end

  defp wait_until(check, deadline_ms \\ 5000) do
    cond do
      check.() ->
        :ok

      deadline_ms <= 0 ->
        flunk("not hibernating after 5 s")

      true ->
        Process.sleep(20)
        wait_until(check, deadline_ms - 20)
    end
  end

  test "handle_info pushes to the client", %{port: port} do
    ws = WS.connect!(port, "/echo")
    pid = handler_pid(:echo_state)
    send(pid, {:push, {:text, "from elsewhere"}})
    assert {:text, "from elsewhere"} = WS.recv(ws)
    send(pid, {:push, [{:text, "one"}, {:binary, "two"}]})
    assert {:text, "one"} = WS.recv(ws)
    assert {:binary, "two"} = WS.recv(ws)
  end

  test "the handler closes with a code and reason; terminate gets :normal", %{port: port} do
    ws = WS.connect!(port, "/echo")
    pid = handler_pid(:echo_state)
    :ok = WS.send_text(ws, "close 4001 see you")
    assert {:close, 4001, "see you"} = WS.recv(ws)
    :ok = WS.send_close(ws, 4001)
    assert :closed = WS.recv(ws)
    assert_receive {:terminate, ^pid, :normal, :echo_state}, 10_000
  end

  test "frames before a stop are sent, then the close", %{port: port} do
    ws = WS.connect!(port, "/echo")
    :ok = WS.send_text(ws, "last")
    assert {:text, "last words"} = WS.recv(ws)
    assert {:close, 1000, ""} = WS.recv(ws)
  end

  test "a stop for another reason closes with 1011; terminate gets {:error, reason}",
       %{port: port} do
    ws = WS.connect!(port, "/echo")
    pid = handler_pid(:echo_state)
    :ok = WS.send_text(ws, "fail")
    assert {:close, 1011, _} = WS.recv(ws)
    assert_receive {:terminate, ^pid, {:error, :failed_on_purpose}, :echo_state}, 10_000
  end

  test "a handler that crashes: close 1011, logged, the VM and other sockets fine",
       %{port: port} do
    other = WS.connect!(port, "/echo")
    handler_pid(:echo_state)
    processes = length(Process.list())

    log =
      capture_log(fn ->
        ws = WS.connect!(port, "/echo")
        pid = handler_pid(:echo_state)
        ref = Process.monitor(pid)
        :ok = WS.send_text(ws, "crash")
        assert {:close, 1011, _} = WS.recv(ws)
        assert_receive {:DOWN, ^ref, :process, ^pid, _}, 10_000
        :gen_tcp.close(ws.socket)
      end)

    assert log =~ "crash on purpose"
    assert eventually(fn -> length(Process.list()) <= processes end)
    :ok = WS.send_text(other, "still here")
    assert {:text, "still here"} = WS.recv(other)
    assert {200, _, "hello"} = request(:get, port, "/hello")
  end

  test "the client closes: the close is answered, terminate gets :remote", %{port: port} do
    ws = WS.connect!(port, "/echo")
    pid = handler_pid(:echo_state)
    assert {:close, 1000, _} = WS.close(ws, 1000, "done")
    assert_receive {:terminate, ^pid, :remote, :echo_state}, 10_000
  end

  test "a client that vanishes without a close: terminate gets {:error, :closed}",
       %{port: port} do
    ws = WS.connect!(port, "/echo")
    pid = handler_pid(:echo_state)
    :ok = :gen_tcp.close(ws.socket)
    assert_receive {:terminate, ^pid, {:error, :closed}, :echo_state}, 10_000
  end

  test "use Ferry.WebSock: defaults for init, handle_info and terminate", %{port: port} do
    ws = WS.connect!(port, "/counter")
    :ok = WS.send_text(ws, "a")
    assert {:text, "1"} = WS.recv(ws)
    :ok = WS.send_text(ws, "b")
    assert {:text, "2"} = WS.recv(ws)
    assert {1000, _} = close_code(WS.close(ws))
  end

  test "pings reach handle_control when the handler has it; Rust answers them", %{port: port} do
    ws = WS.connect!(port, "/control")
    :ok = WS.send_ping(ws, "p1")
    assert [{:pong, "p1"}, {:text, "ping p1"}] = Enum.sort([WS.recv(ws), WS.recv(ws)])

    # Without handle_control the ping is Rust's business only.
    echo = WS.connect!(port, "/echo")
    :ok = WS.send_ping(echo, "p2")
    assert {:pong, "p2"} = WS.recv(echo)
    :ok = WS.send_text(echo, "next")
    assert {:text, "next"} = WS.recv(echo)
  end

  describe "the router" do
    test "a path variable in the state", %{port: port} do
      _ws = WS.connect!(port, "/rooms/blue")
      assert handler_pid(%{room: "blue"})
    end

    test "a subprotocol and headers on the 101", %{port: port} do
      ws = WS.connect!(port, "/proto", [{"sec-websocket-protocol", "chat.v1, chat.v2"}])
      assert ws.headers["sec-websocket-protocol"] == "chat.v2"
      assert ws.headers["x-route"] == "proto"
      assert ws.headers["x-extra"] == "1"
      :ok = WS.send_text(ws, "ok")
      assert {:text, "ok"} = WS.recv(ws)
    end

    test "a route may refuse the upgrade with an ordinary response", %{port: port} do
      assert {:error, {401, _, "who are you?"}} = WS.connect(port, "/private")
      assert {:ok, _} = WS.connect(port, "/private", [{"authorization", "Bearer yes"}])
    end

    test "bad handshakes: 400, 426 with the version; POST is 405", %{port: port} do
      assert {400, _, _} = request(:get, port, "/echo")
      assert {:error, {400, _, _}} = WS.connect(port, "/echo", [{"sec-websocket-key", "short"}])

      assert {:error, {426, headers, _}} =
               WS.connect(port, "/echo", [{"sec-websocket-version", "8"}])

      assert headers["sec-websocket-version"] == "13"
      assert {405, %{"allow" => "GET"}, _} = request(:post, port, "/echo", [], "")
      assert {200, _, "hello"} = request(:get, port, "/hello")
    end
  end

  describe "permessage-deflate" do
    @offer [{"sec-websocket-extensions", "permessage-deflate; client_max_window_bits"}]

    test "accepted by default when the client offers it", %{port: port} do
      ws = WS.connect!(port, "/echo", @offer)
      assert ws.headers["sec-websocket-extensions"] =~ "permessage-deflate"
      text = String.duplicate("compress me ", 1000)

      for _ <- 1..3 do
        :ok = WS.send_text(ws, text)
        assert {:text, ^text} = WS.recv(ws)
        assert WS.last_compressed?(ws)
      end
    end

    test "refused with compress: false", %{port: port} do
      ws = WS.connect!(port, "/plain", @offer)
      refute Map.has_key?(ws.headers, "sec-websocket-extensions")
      :ok = WS.send_text(ws, String.duplicate("a", 1000))
      assert {:text, _} = WS.recv(ws)
      refute WS.last_compressed?(ws)
    end
  end

  describe "groups" do
    test "publish reaches every member; publish_from all but the sender", %{port: port} do
      a = WS.connect!(port, "/groups/g1")
      assert_receive {:conn, _, _}, 10_000
      b = WS.connect!(port, "/groups/g1")
      assert_receive {:conn, _, _}, 10_000
      outsider = WS.connect!(port, "/groups/g2")
      assert_receive {:conn, _, _}, 10_000

      :ok = Ferry.WebSocket.publish(@listener, "g1", {:text, "to all of g1"})
      assert {:text, "to all of g1"} = WS.recv(a)
      assert {:text, "to all of g1"} = WS.recv(b)

      :ok = WS.send_text(a, "hi")
      assert {:text, "from a peer: hi"} = WS.recv(b)

      # Nothing else came to a (its own message) or to the other group.
      :ok = Ferry.WebSocket.publish(@listener, "g1", [{:text, "x"}, {:binary, "y"}])
      assert {:text, "x"} = WS.recv(a)
      assert {:binary, "y"} = WS.recv(a)
      :ok = Ferry.WebSocket.publish(@listener, "g2", {:text, "g2 only"})
      assert {:text, "g2 only"} = WS.recv(outsider)
    end

    test "a connection that left gets nothing more from the group", %{port: port} do
      a = WS.connect!(port, "/groups/g")
      b = WS.connect!(port, "/groups/g")
      :ok = WS.send_text(b, "leave")
      assert {:text, "left"} = WS.recv(b)

      :ok = Ferry.WebSocket.publish(@listener, "g", {:text, "anyone?"})
      assert {:text, "anyone?"} = WS.recv(a)
      # The publish went to Rust before this echo was asked for: had b
      # still been a member, "anyone?" would come first.
      :ok = WS.send_text(b, "echo marker")
      assert {:text, "marker"} = WS.recv(b)
    end

    test "send to connections named by self_conn", %{port: port} do
      a = WS.connect!(port, "/groups/s")
      assert_receive {:conn, _, conn_a}, 10_000
      b = WS.connect!(port, "/groups/s")
      assert_receive {:conn, _, conn_b}, 10_000

      :ok = Ferry.WebSocket.send([conn_a, conn_b], {:text, "direct"})
      assert {:text, "direct"} = WS.recv(a)
      assert {:text, "direct"} = WS.recv(b)
      :ok = Ferry.WebSocket.send([conn_b], [{:close, 4000, "bye"}])
      assert {:close, 4000, "bye"} = WS.recv(b)
    end
  end

  defp close_code({:close, code, reason}), do: {code, reason}
end
