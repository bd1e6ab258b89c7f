defmodule Ferry.Telemetry do
  @moduledoc """
  Ferry's events, metrics and access log (the table of
  `docs/ERLANG_API.md` "Events" is the reference).

  Events have the shape `:telemetry` users expect. They reach handlers
  attached to `:telemetry` whenever the `telemetry` application is loaded
  (Ferry finds it at run time and does not depend on it), and always
  handlers attached here, which need nothing else:

      Ferry.Telemetry.attach("log-slow", [:ferry, :request, :stop], fn
        _event, %{duration: d}, %{path: path}, _config ->
          ms = System.convert_time_unit(d, :native, :millisecond)
          if ms > 100, do: IO.puts("slow: \#{path} \#{ms} ms")
      end, nil)

  A handler runs in the process that emits, and one that raises is
  detached and logged, the request going on. Durations are in `:native`
  units.

  | event | measurements | metadata |
  |---|---|---|
  | `[:ferry, :request, :start]` | `:system_time`, `:monotonic_time` | `:listener`, `:request_id`, `:method`, `:path`, `:peer` |
  | `[:ferry, :request, :stop]` | `:duration`, `:monotonic_time`, `:status`, `:req_body_bytes`, `:resp_body_bytes`; with `sent_events: true` (which `access_log:` turns on) also `:resp_bytes` and `:sent_duration`, Rust's figures once the last byte was written | the start's, and `:route` (the route's path, `"/users/:id"`), `:status`, `:error` when the client left early (`:peer_closed`, …) |
  | `[:ferry, :request, :exception]` | `:duration`, `:monotonic_time` | the stop's, and `:kind`, `:reason`, `:stacktrace` (a route that raised; instead of `:stop`) |
  | `[:ferry, :websocket, :upgrade]` | `:system_time`, `:monotonic_time` | the start's and `:route` |
  | `[:ferry, :websocket, :close]` | `:duration` (since the upgrade), `:monotonic_time` | the start's, `:code`, `:reason` (`:remote`, `:error`, `:stop`, `:shutdown`, `:crash`) |
  | `[:ferry, :port, :start]` | `:system_time`, `:restarts` | `:listener`, `:shard`, `:os_pid` |
  | `[:ferry, :port, :exit]` | `:system_time` | `:listener`, `:shard`, `:os_pid`, `:reason` |
  | `[:ferry, :port, :restart]` | `:restarts`, `:delay_ms` | as `:exit` |

  The access log (`access_log: true` on the listener) writes one Logger
  line per request, `127.0.0.1 "GET /hello HTTP/1.1" 200 91 0.412ms`, with
  `:request_id`, `:status`, `:route`, `:duration_us`, … as Logger
  metadata. `Ferry.info/1` has the listener's counters and latency
  histogram under `:metrics`; `prometheus/1` renders them as Prometheus
  text.
  """

  @typedoc "An event name, such as `[:ferry, :request, :stop]`."
  @type event_name :: [atom(), ...]

  @typedoc "A handler: called with the event, measurements, metadata and the config given."
  @type handler :: (event_name(), map(), map(), term() -> any())

  @doc """
  Attaches `handler` to `event_name` (or to each of a list of event names)
  under `id`. Returns `{:error, :already_exists}` when `id` is taken.
  """
  @spec attach(term(), event_name() | [event_name()], handler(), term()) ::
          :ok | {:error, :already_exists}
  def attach(id, [name | _] = names, handler, config) when is_list(name),
    do: :ferry_telemetry.attach_many(id, names, handler, config)

  def attach(id, event_name, handler, config),
    do: :ferry_telemetry.attach(id, event_name, handler, config)

  @doc "Detaches the handler `id`: no more events reach it."
  @spec detach(term()) :: :ok | {:error, :not_found}
  def detach(id), do: :ferry_telemetry.detach(id)

  @doc """
  The metrics of the listeners `names` in the Prometheus text exposition
  format (0.0.4), for a `/metrics` route:

      get "/metrics" do
        {200, [{"content-type", "text/plain; version=0.0.4"}], Ferry.Telemetry.prometheus([MyApp.HTTP])}
      end
  """
  @spec prometheus([atom()]) :: iodata()
  def prometheus(names) when is_list(names), do: :ferry_metrics.prometheus(names)
end
