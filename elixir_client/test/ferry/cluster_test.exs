defmodule Ferry.ClusterTest do
  # Ferry.PubSub and Ferry.Remote with a real second node, started by OTP's
  # :peer with this node's code path (docs/CLUSTER.md). The listener is on
  # this node; the peer publishes, or serves the remote route.
  use ExUnit.Case, async: false
  import FerryTest.HTTP
  alias FerryTest.WS

  @listener Ferry.ClusterTest.HTTP
  @topic "cluster:room"

  defmodule Sub do
    use Ferry.WebSock

    @impl true
    def init(topic) do
      :ok = Ferry.PubSub.subscribe(topic)
      send(Ferry.ClusterTest.Waiter, {:subscribed, self()})
      {:ok, topic}
    end

    @impl true
    def handle_in({"from " <> text, opcode: :text}, topic) do
      :ok = Ferry.PubSub.broadcast_from(topic, {:text, text})
      {:ok, topic}
    end

    def handle_in({"leave", opcode: :text}, topic) do
      :ok = Ferry.PubSub.unsubscribe(topic)
      {:push, {:text, "left"}, topic}
    end
  end

  defmodule Routes do
    use Ferry.Router

    websocket("/ws", Sub, "cluster:room")
    get "/api/node", do: Ferry.Remote.forward(conn, :cluster_test)
  end

  # The peer's handler: compiled here and loaded there (a module of this
  # file exists only in this node's memory).
  @handler """
  defmodule Ferry.ClusterTest.NodeName do
    def handle(_req), do: {200, [], Atom.to_string(node())}
  end
  """

  setup_all do
    :ok = ensure_distribution()
    paths = Enum.flat_map(:code.get_path(), &[~c"-pa", &1])
    {:ok, peer, node} = :peer.start(%{name: :peer.random_name(~c"ferry_ex"), args: paths})
    {:ok, _} = :erpc.call(node, :application, :ensure_all_started, [:ferry])
    on_exit(fn -> :peer.stop(peer) end)
    %{node: node}
  end

  setup do
    Process.register(self(), Ferry.ClusterTest.Waiter)
    start_supervised!({Ferry, name: @listener, port: 0, ip: {127, 0, 0, 1}, router: Routes})
    %{port: Ferry.port_number(@listener)}
  end

  # mix test starts without a node name; epmd may need a moment to listen.
  defp ensure_distribution do
    if Node.alive?() do
      :ok
    else
      System.cmd("epmd", ["-daemon"])
      name = :"ferry_test_#{System.pid()}"
      eventually(fn -> match?({:ok, _}, Node.start(name, :shortnames)) end)
      :ok
    end
  end

  test "a broadcast on another node reaches this node's subscribers once; broadcast_from skips the sender",
       %{port: port, node: node} do
    [a, b] = for _ <- 1..2, do: WS.connect!(port, "/ws")
    assert_receive {:subscribed, _}, 10_000
    assert_receive {:subscribed, _}, 10_000
    me = node()
    eventually(fn -> :erpc.call(node, Ferry.PubSub, :subscribers, [@topic]) == [me] end)

    :ok = :erpc.call(node, Ferry.PubSub, :broadcast, [@topic, {:text, "hello"}])
    assert {:text, "hello"} = WS.recv(a)
    assert {:text, "hello"} = WS.recv(b)

    :ok = WS.send_text(a, "from hi")
    assert {:text, "hi"} = WS.recv(b)
    :ok = :erpc.call(node, Ferry.PubSub, :broadcast, [@topic, [{:text, "end"}]])
    # The sender's next message is the one after its own.
    assert {:text, "end"} = WS.recv(a)
    assert {:text, "end"} = WS.recv(b)

    for ws <- [a, b], do: :ok = WS.send_text(ws, "leave")
    assert {:text, "left"} = WS.recv(a)
    assert {:text, "left"} = WS.recv(b)
    eventually(fn -> :erpc.call(node, Ferry.PubSub, :subscribers, [@topic]) == [] end)
    # Nothing waited long enough at this node's forwarder to be dropped.
    assert Ferry.PubSub.dropped() == 0
  end

  test "a route served by another node with Ferry.Remote; 503 with retry-after once it leaves",
       %{port: port, node: node} do
    [{module, binary}] = Code.compile_string(@handler)
    {:module, _} = :erpc.call(node, :code, :load_binary, [module, ~c"nofile", binary])
    spec = Ferry.Remote.child_spec(group: :cluster_test, handler: module)
    {:ok, member} = :erpc.call(node, :supervisor, :start_child, [:ferry_sup, spec])
    eventually(fn -> Ferry.Remote.members(:cluster_test) == [member] end)

    assert {200, _, body} = request(:get, port, "/api/node")
    assert body == Atom.to_string(node)

    :ok = :erpc.call(node, :supervisor, :terminate_child, [:ferry_sup, {:ferry_remote, :cluster_test}])
    eventually(fn -> Ferry.Remote.members(:cluster_test) == [] end)
    # Raw: httpc retries a 503 that has retry-after.
    {head, _body} =
      raw(port, "GET /api/node HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n", fn _ -> false end)

    assert head =~ "HTTP/1.1 503"
    assert head =~ "retry-after: 1"
  end
end
