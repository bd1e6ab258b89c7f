defmodule Demo.Dashboard do
  @moduledoc """
  The live dashboard of the demo: `GET /_ferry/dashboard` is one HTML page
  (no build step, no CDN: its script draws on canvases) fed by
  `GET /_ferry/dashboard/events`, server-sent events carrying a snapshot
  of `Ferry.info/1` every `interval` ms (default 1000, 100..10000). The
  page turns the counters into rates: requests per second, latency
  percentiles (from the histogram's buckets), status classes, open
  connections and restarts of the Rust process.

      curl -N 'http://localhost:4000/_ferry/dashboard/events?interval=1000'
  """

  import Ferry.Conn

  @page_path Path.join(__DIR__, "dashboard/dashboard.html")
  @external_resource @page_path
  @page File.read!(@page_path)

  @doc "The dashboard page."
  @spec page() :: binary()
  def page, do: @page

  @doc """
  Streams a snapshot of `listener`'s figures every `interval` ms until the
  client leaves (which ends the route's process quietly).
  """
  @spec stream(Ferry.Conn.t(), atom(), pos_integer()) :: no_return()
  def stream(conn, listener, interval) do
    conn = sse_start(conn)
    # A browser that lost the stream (the demo restarting) retries soon.
    conn = send_event(conn, %{retry: 1000, data: Ferry.JSON.encode!(%{interval: interval})})
    loop(conn, listener, interval)
  end

  defp loop(conn, listener, interval) do
    conn = send_event(conn, %{event: "sample", data: Ferry.JSON.encode!(snapshot(listener))})
    Process.sleep(interval)
    loop(conn, listener, interval)
  end

  @doc """
  What the page draws: cumulative counters and the histogram's cumulative
  bucket counts (`le_us` upper bounds, the last `"infinity"`), with the
  gauges of the moment.
  """
  @spec snapshot(atom()) :: map()
  def snapshot(listener) do
    info = Ferry.info(listener)
    %{metrics: m} = info

    %{
      t: System.system_time(:millisecond),
      requests: m.requests,
      status_classes: m.status_classes,
      exceptions: m.exceptions,
      buckets: Enum.map(m.duration.buckets, &[&1.le_us, &1.count]),
      connections: info.connections,
      websockets: m.websocket_upgrades - m.websocket_closes,
      restarts: info.restarts,
      os_pid: info.os_pid,
      bytes_out: m.resp_bytes
    }
  end
end
