defmodule Demo.RestartWatcher do
  @moduledoc """
  Prints a line when the Rust process of a listener is replaced, so the
  demo shows the supervisor at work after `kill -9`.

      {Demo.RestartWatcher, Demo.HTTP}
  """

  use GenServer
  require Logger

  @every_ms 500

  @doc "Starts watching the listener `name`."
  @spec start_link(atom()) :: GenServer.on_start()
  def start_link(name), do: GenServer.start_link(__MODULE__, name)

  @impl GenServer
  def init(name) do
    schedule()
    {:ok, {name, os_pid(name)}}
  end

  @impl GenServer
  def handle_info(:check, {name, last}) do
    schedule()

    case os_pid(name) do
      pid when pid != last and is_integer(pid) and is_integer(last) ->
        Logger.warning(
          "ferry: Rust process #{last} is gone; the supervisor started #{pid} (info: #{inspect(Ferry.info(name))})"
        )

        {:noreply, {name, pid}}

      pid when is_integer(pid) ->
        {:noreply, {name, pid}}

      nil ->
        {:noreply, {name, last}}
    end
  end

  defp schedule, do: Process.send_after(self(), :check, @every_ms)

  # While a port restarts, info/1 may fail: that is what we are watching for.
  defp os_pid(name) do
    Ferry.info(name).os_pid
  catch
    _, _ -> nil
  end
end
