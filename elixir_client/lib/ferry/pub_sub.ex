defmodule Ferry.PubSub do
  @moduledoc """
  Topics across BEAM nodes: the cluster form of `Ferry.WebSocket` groups,
  over `pg` (a scope of Ferry's own). A thin layer over the Erlang module
  `ferry_pubsub` (`docs/CLUSTER.md`).

  A broadcast reaches the subscribers of this node through its Rust
  fan-out, and each other node with subscribers through one message to
  that node, which fans it out through its own Rust processes: the cost is
  per node, not per subscriber. A publisher's messages reach each
  subscriber in the order it sent them. On one node it behaves as
  `Ferry.WebSocket.publish/3` on every listener.

      defmodule MyApp.RoomSocket do
        use Ferry.WebSock

        @impl true
        def init(%{room: room} = state) do
          :ok = Ferry.PubSub.subscribe("room:" <> room)
          {:ok, state}
        end

        @impl true
        def handle_in({text, opcode: :text}, %{room: room} = state) do
          # Everyone in the room, on every node, but this connection.
          :ok = Ferry.PubSub.broadcast_from("room:" <> room, {:text, text})
          {:ok, state}
        end
      end

  and from any process of any node running `:ferry`:

      Ferry.PubSub.broadcast("room:lobby", {:text, "server restarting"})

  `subscribe/1`, `unsubscribe/1` and `broadcast_from/2` act for the
  connection of the calling process, so they are called from a
  `Ferry.WebSock` callback. A connection is unsubscribed when it closes.
  Frames are those of `Ferry.WebSocket`.
  """

  @typedoc "A topic's name: a `Ferry.WebSocket` group of that name on each node."
  @type topic :: binary()

  @doc "Subscribes the calling process's connection to `topic`, on every node."
  @spec subscribe(topic()) :: :ok
  def subscribe(topic) when is_binary(topic), do: :ferry_pubsub.subscribe(topic)

  @doc "Unsubscribes the calling process's connection from `topic`."
  @spec unsubscribe(topic()) :: :ok
  def unsubscribe(topic) when is_binary(topic), do: :ferry_pubsub.unsubscribe(topic)

  @doc "Sends `frames` to every subscriber of `topic` on every node."
  @spec broadcast(topic(), Ferry.WebSocket.frames()) :: :ok
  def broadcast(topic, frames) when is_binary(topic),
    do: :ferry_pubsub.broadcast(topic, List.wrap(frames))

  @doc """
  Sends `frames` to every subscriber of `topic` on every node but the
  calling process's connection.
  """
  @spec broadcast_from(topic(), Ferry.WebSocket.frames()) :: :ok
  def broadcast_from(topic, frames) when is_binary(topic),
    do: :ferry_pubsub.broadcast_from(topic, List.wrap(frames))

  @doc "The nodes with subscribers of `topic`, as this node sees them."
  @spec subscribers(topic()) :: [node()]
  def subscribers(topic) when is_binary(topic), do: :ferry_pubsub.subscribers(topic)

  @doc """
  How many broadcasts from other nodes this node has dropped because more
  than 10,000 were waiting for its forwarder (`docs/CLUSTER.md`).
  """
  @spec dropped() :: non_neg_integer()
  def dropped, do: :ferry_pubsub.dropped()
end
