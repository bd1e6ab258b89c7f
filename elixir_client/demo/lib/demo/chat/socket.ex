defmodule Demo.Chat.Socket do
  @moduledoc """
  One chat page's WebSocket (`/ws/chat?room=…&name=…`). It subscribes to
  the room's topic (`Ferry.PubSub`: the room's Ferry group on every node of
  a cluster) and registers with `Demo.Chat.Rooms`, which announces it and
  pushes the member list to the room; each text message it receives goes to
  the whole room, on every node, with one `Ferry.PubSub.broadcast/2`: one
  message per other node, framed once and fanned out by each node's Rust
  process (`make run-cluster` runs the chat on two nodes).

      get "/ws/chat", do: upgrade_websocket(conn, Demo.Chat.Socket, {"lobby", "ada"})
  """

  use Ferry.WebSock

  alias Demo.Chat.{Event, Rooms}

  @max_text 2000

  @impl true
  def init({room, name}) do
    :ok = Ferry.PubSub.subscribe(Rooms.group(room))

    case Rooms.join(room, name) do
      {:ok, members, version} ->
        # The room's copy of the member list may reach this socket before
        # Rust knows it joined: it gets its own.
        frames = [{:text, Event.welcome(room, name)}, {:text, Event.members(members, version)}]
        {:push, frames, %{room: room, name: name}}

      {:error, :name_taken} ->
        {:stop, :normal, {4001, "name taken"}, %{room: room, name: name}}
    end
  end

  @impl true
  def handle_in({text, opcode: :text}, %{room: room, name: name} = state) do
    case String.trim(text) do
      "" ->
        {:ok, state}

      text ->
        text = String.slice(text, 0, @max_text)

        :ok = Ferry.PubSub.broadcast(Rooms.group(room), {:text, Event.message(name, text)})

        {:ok, state}
    end
  end

  def handle_in({_data, opcode: :binary}, state), do: {:ok, state}
end
