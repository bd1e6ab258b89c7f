defmodule Ferry.WebSock.AdapterTest do
  # The adapter alone, called as the Erlang ferry_websocket process calls it
  # (docs/ERLANG_API.md): WebSock returns in, ferry_websocket commands out,
  # and ferry_websocket terminate reasons in, WebSock's out.
  use ExUnit.Case, async: true

  alias Ferry.WebSock.Adapter

  # Written as for Bandit: plain functions, no `use`. The state is the test
  # process, which hears of every call.
  defmodule Scripted do
    def init(test), do: {:push, {:text, "hello"}, test}

    def handle_in({data, opcode: opcode}, test) do
      send(test, {:in, data, opcode})
      {:ok, test}
    end

    def handle_control({data, opcode: opcode}, test) do
      send(test, {:control, data, opcode})
      {:ok, test}
    end

    # What the test wants this callback to return.
    def handle_info({:return, result}, _test), do: result

    def terminate(reason, test), do: send(test, {:terminate, reason})
  end

  defmodule Minimal do
    use Ferry.WebSock

    @impl true
    def handle_in({data, opcode: opcode}, state), do: {:push, {opcode, data}, state}
  end

  defp open(handler \\ Scripted) do
    case Adapter.websocket_init({handler, self()}) do
      {:ok, adapter} -> adapter
      {[{:text, "hello"}], adapter} -> adapter
    end
  end

  defp returning(result, adapter \\ open()),
    do: Adapter.websocket_info({:return, result}, adapter)

  test "init gets the upgrade's state and may push" do
    assert {[{:text, "hello"}], adapter} = Adapter.websocket_init({Scripted, self()})
    assert adapter.handler == Scripted
    assert adapter.state == self()
  end

  test "messages in are handle_in with their opcode" do
    adapter = open()
    assert {:ok, _} = Adapter.websocket_handle({:text, "hi"}, adapter)
    assert_received {:in, "hi", :text}
    assert {:ok, _} = Adapter.websocket_handle({:binary, <<0, 1>>}, adapter)
    assert_received {:in, <<0, 1>>, :binary}
  end

  test "pings and pongs reach handle_control when the handler has it, and are dropped when not" do
    assert {:ok, _} = Adapter.websocket_handle({:ping, "p"}, open())
    assert_received {:control, "p", :ping}
    assert {:ok, _} = Adapter.websocket_handle({:pong, "q"}, open())
    assert_received {:control, "q", :pong}

    minimal = open(Minimal)
    assert {:ok, ^minimal} = Adapter.websocket_handle({:ping, "p"}, minimal)
  end

  test "{:ok, state} sends nothing and keeps the new state" do
    assert {:ok, %Adapter{state: :new}} = returning({:ok, :new})
  end

  test "push and reply become frame commands, one frame or a list" do
    assert {[{:text, "a"}], %Adapter{state: :s}} = returning({:push, {:text, "a"}, :s})

    frames = [{:text, ["a", ?b]}, {:binary, <<1>>}, {:ping, ""}, {:pong, "x"}]
    assert {^frames, _} = returning({:push, frames, :s})
    assert {[{:binary, "r"}], %Adapter{state: :s}} = returning({:reply, :ok, {:binary, "r"}, :s})
  end

  test "a stop closes: 1000 for :normal, 1012 for a restart, 1011 for any other reason" do
    assert {[{:close, 1000, ""}], %Adapter{stopping: {:stop, :normal}}} =
             returning({:stop, :normal, :s})

    assert {[{:close, 1012, ""}], _} = returning({:stop, {:shutdown, :restart}, :s})
    assert {[{:close, 1011, ""}], _} = returning({:stop, :oops, :s})
  end

  test "a stop with a close detail, and with frames before the close" do
    assert {[{:close, 4001, ""}], _} = returning({:stop, :normal, 4001, :s})
    assert {[{:close, 4002, "bye"}], _} = returning({:stop, :normal, {4002, "bye"}, :s})
    assert {[{:close, 4003, ""}], _} = returning({:stop, :normal, {4003, nil}, :s})

    assert {[{:text, "last"}, {:close, 1000, "done"}], _} =
             returning({:stop, :normal, {1000, "done"}, {:text, "last"}, :s})
  end

  test "a close reason is cut to fit a close frame, on a character boundary" do
    long = String.duplicate("é", 100)
    assert {[{:close, 1000, cut}], _} = returning({:stop, :normal, {1000, long}, :s})
    assert cut == String.duplicate("é", 61)
    assert byte_size(cut) == 122 and String.valid?(cut)
  end

  test "after a stop the handler is not called again, and terminate gets its reason" do
    {_, adapter} = returning({:stop, :normal, self()})
    assert {:ok, ^adapter} = Adapter.websocket_handle({:text, "late"}, adapter)
    assert {:ok, ^adapter} = Adapter.websocket_info({:return, {:push, {:text, "x"}, :s}}, adapter)
    refute_received {:in, "late", _}

    # However the close handshake ended, the handler hears its own reason.
    assert :ok = Adapter.terminate({:remote, 1000, ""}, %{}, adapter)
    assert_received {:terminate, :normal}

    {_, adapter} = returning({:stop, :oops, self()})
    assert :ok = Adapter.terminate(:stop, %{}, adapter)
    assert_received {:terminate, {:error, :oops}}
  end

  test "ferry_websocket terminate reasons become WebSock's" do
    adapter = open()

    for {reason, expected} <- [
          {{:remote, 1000, "bye"}, :remote},
          {{:remote, 1005, ""}, :remote},
          {{:error, 1001, "ping timeout"}, :timeout},
          {{:error, 1006, ""}, {:error, :closed}},
          {{:error, 1009, "message too big"}, {:error, {1009, "message too big"}}},
          {:shutdown, :shutdown},
          {:stop, :normal},
          {{:crash, :error, %RuntimeError{message: "x"}, []},
           {:error, %RuntimeError{message: "x"}}},
          {:something_else, {:error, :something_else}}
        ] do
      assert :ok = Adapter.terminate(reason, %{}, adapter)
      assert_received {:terminate, ^expected}
    end
  end

  test "terminate is not called when init never returned, nor when the handler has none" do
    assert :ok = Adapter.terminate({:crash, :error, :badarg, []}, %{}, {Scripted, self()})
    refute_received {:terminate, _}
    assert :ok = Adapter.terminate({:remote, 1000, ""}, %{}, open(Minimal))
  end

  test "use Ferry.WebSock gives init, handle_info and terminate defaults" do
    assert {:ok, %Adapter{state: :st}} = Adapter.websocket_init({Minimal, :st})
    adapter = open(Minimal)
    assert {:ok, ^adapter} = Adapter.websocket_info(:anything, adapter)
    assert {[{:text, "e"}], _} = Adapter.websocket_handle({:text, "e"}, adapter)
    assert Minimal.terminate(:normal, :st) == :ok
  end

  test "a return that is not WebSock's is an error naming the handler" do
    error = assert_raise ArgumentError, fn -> returning(:nonsense) end
    assert error.message =~ "Ferry.WebSock.AdapterTest.Scripted.handle_info returned :nonsense"

    assert_raise ArgumentError, ~r/the frame {:close, 1000}/, fn ->
      returning({:push, [{:close, 1000}], :s})
    end

    assert_raise ArgumentError, ~r/close detail "x"/, fn ->
      returning({:stop, :normal, "x", :s})
    end
  end
end
