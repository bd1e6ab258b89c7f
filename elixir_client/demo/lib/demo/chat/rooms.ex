defmodule Demo.Chat.Rooms do
  @moduledoc """
  Who is in which chat room. One process for the demo: it monitors each
  chat socket's process, so a member is gone as soon as its connection
  ends, however it ends, and it publishes every change of a room to the
  room (`Ferry.WebSocket.publish/3`): a `join` or `leave` event and the new
  member list. Started next to the listener in `demo/demo.exs`. In a
  cluster (`make run-cluster`) each node keeps its own members: messages
  cross nodes, member lists and names are per node.

      {:ok, members} = Demo.Chat.Rooms.join("lobby", "ada")
  """

  use GenServer

  alias Demo.Chat.Event

  # The demo's listener (demo/demo.exs), where the rooms' groups live.
  @listener Demo.HTTP

  @doc "Starts the registry of the chat rooms."
  @spec start_link(keyword()) :: GenServer.on_start()
  def start_link(_opts), do: GenServer.start_link(__MODULE__, [], name: __MODULE__)

  @doc "The listener the chat sockets are on."
  @spec listener() :: Ferry.name()
  def listener, do: @listener

  @doc """
  Makes the calling process (a chat socket) the member `name` of `room`,
  until it ends. Returns the room's members, or `{:error, :name_taken}`.
  """
  @spec join(String.t(), String.t()) ::
          {:ok, [String.t()], non_neg_integer()} | {:error, :name_taken}
  def join(room, name), do: GenServer.call(__MODULE__, {:join, room, name, self()})

  @doc "The names in `room`, sorted."
  @spec members(String.t()) :: [String.t()]
  def members(room), do: GenServer.call(__MODULE__, {:members, room})

  @doc "The Ferry group of `room`."
  @spec group(String.t()) :: binary()
  def group(room), do: "chat:" <> room

  @impl true
  def init([]) do
    # version orders the member lists a page receives: they come from this
    # process and from the sockets, and the page keeps the newest.
    {:ok, %{rooms: %{}, sockets: %{}, version: 0}}
  end

  @impl true
  def handle_call({:join, room, name, pid}, _from, state) do
    members = Map.get(state.rooms, room, %{})

    if name in Map.values(members) do
      {:reply, {:error, :name_taken}, state}
    else
      ref = Process.monitor(pid)

      state = %{
        state
        | rooms: Map.put(state.rooms, room, Map.put(members, pid, name)),
          sockets: Map.put(state.sockets, pid, {room, ref}),
          version: state.version + 1
      }

      publish(state, room, Event.join(name))
      {:reply, {:ok, names(state, room), state.version}, state}
    end
  end

  def handle_call({:members, room}, _from, state), do: {:reply, names(state, room), state}

  @impl true
  def handle_info({:DOWN, _ref, :process, pid, _reason}, state) do
    case Map.pop(state.sockets, pid) do
      {nil, _} ->
        {:noreply, state}

      {{room, _ref}, sockets} ->
        {name, members} = Map.pop(state.rooms[room], pid)

        rooms =
          if members == %{},
            do: Map.delete(state.rooms, room),
            else: Map.put(state.rooms, room, members)

        state = %{state | rooms: rooms, sockets: sockets, version: state.version + 1}
        publish(state, room, Event.leave(name))
        {:noreply, state}
    end
  end

  defp names(state, room), do: state.rooms |> Map.get(room, %{}) |> Map.values() |> Enum.sort()

  defp publish(state, room, event) do
    members = Event.members(names(state, room), state.version)
    Ferry.WebSocket.publish(@listener, group(room), [{:text, event}, {:text, members}])
  end
end
