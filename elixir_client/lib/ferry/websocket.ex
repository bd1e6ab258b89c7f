defmodule Ferry.WebSocket do
  @moduledoc """
  Groups of WebSocket connections, with the fan-out done in Rust: a
  message published to a group crosses the port once per Rust process and
  is framed once, whatever the number of members. A thin layer over the
  Erlang module `ferry_ws` (`docs/ERLANG_API.md`).

      defmodule MyApp.RoomSocket do
        use Ferry.WebSock

        @impl true
        def init(%{room: room} = state) do
          :ok = Ferry.WebSocket.join("room:" <> room)
          {:ok, state}
        end

        @impl true
        def handle_in({text, opcode: :text}, %{room: room} = state) do
          # Everyone in the room but this connection.
          :ok = Ferry.WebSocket.publish_from("room:" <> room, {:text, text})
          {:ok, state}
        end
      end

  and from anywhere in the node (a GenServer, a PubSub subscriber):

      Ferry.WebSocket.publish(MyApp.HTTP, "room:lobby", {:text, "server restarting"})

  `join/1`, `leave/1`, `publish_from/2` and `self_conn/0` act for the
  connection of the calling process, so they are called from a
  `Ferry.WebSock` callback. A connection leaves all its groups when it
  closes. Groups are per Rust process; `publish/3` reaches every shard of
  the listener.

  Frames are those of `Ferry.WebSock` (`{:text, iodata}`, `{:binary,
  iodata}`, `{:ping, iodata}`, `{:pong, iodata}`), one or a list, plus
  `{:close, code, reason}` to close the members. A group's members that
  read too slowly for a fan-out are closed by Rust with 1008, instead of
  being buffered for without bound. A publisher that publishes faster than
  Rust writes to the members waits in `publish/3`, `publish_from/2` and
  `send/2` (the `:publish_window` option of `Ferry`): nothing is dropped,
  and the pipe to Rust never holds more than a window of fan-out work.
  """

  @typedoc "A group's name."
  @type group :: binary()

  @typedoc "One WebSocket connection, as `self_conn/0` returns it."
  @type conn :: :ferry_ws.conn()

  @typedoc "What `publish/3`, `publish_from/2` and `send/2` send: one frame or a list."
  @type frames :: frame() | [frame()]

  @typedoc "A frame to send."
  @type frame ::
          {:text | :binary | :ping | :pong, iodata()}
          | {:close, 1000..4999, iodata()}

  @doc """
  Adds the calling process's connection to `group`. Called from a
  `Ferry.WebSock` callback (`init/1` usually).
  """
  @spec join(group()) :: :ok
  def join(group) when is_binary(group), do: :ferry_ws.join(group)

  @doc "Removes the calling process's connection from `group`."
  @spec leave(group()) :: :ok
  def leave(group) when is_binary(group), do: :ferry_ws.leave(group)

  @doc """
  Sends `frames` to every member of `group` on the listener named
  `listener` (the `:name` given to `Ferry`). Callable from any process.

      Ferry.WebSocket.publish(MyApp.HTTP, "news", [{:text, "a"}, {:text, "b"}])
  """
  @spec publish(Ferry.name(), group(), frames()) :: :ok
  def publish(listener, group, frames) when is_atom(listener) and is_binary(group),
    do: :ferry_ws.publish(listener, group, List.wrap(frames))

  @doc """
  Sends `frames` to every member of `group` but the calling process's own
  connection. Called from a `Ferry.WebSock` callback.
  """
  @spec publish_from(group(), frames()) :: :ok
  def publish_from(group, frames) when is_binary(group),
    do: :ferry_ws.publish_from(group, List.wrap(frames))

  @doc """
  The calling process's connection, to give to another process that will
  `send/2` to it. Called from a `Ferry.WebSock` callback.
  """
  @spec self_conn() :: conn()
  def self_conn, do: :ferry_ws.self()

  @doc """
  Sends `frames` to each connection of `conns` (from `self_conn/0`),
  framed once for all of them. Callable from any process.

      Ferry.WebSocket.send([alice, bob], {:text, "you two"})
  """
  @spec send([conn()], frames()) :: :ok
  def send(conns, frames) when is_list(conns), do: :ferry_ws.send(conns, List.wrap(frames))
end
