defmodule Ferry do
  @moduledoc """
  An HTTP/1.1 server whose sockets are owned by a Rust program run as an
  Erlang port, and whose routes are Elixir code. If the Rust process dies,
  its supervisor starts it again; nothing else in the VM notices.

  Start a listener in your application's supervision tree:

      defmodule MyApp.Application do
        use Application

        def start(_type, _args) do
          children = [
            {Ferry, name: MyApp.HTTP, port: 4000, router: MyApp.Router}
          ]

          Supervisor.start_link(children, strategy: :one_for_one)
        end
      end

  with a router written with `Ferry.Router`. Then `Ferry.port_number(MyApp.HTTP)`
  is the port it listens on and `Ferry.info(MyApp.HTTP)` its counters.

  This module wraps the Erlang API of the `ferry` application
  (`docs/ERLANG_API.md`): the same listener can be started from Erlang with
  `ferry:start_listener/2`.
  """

  # Defaults are read from where they live (the ferry application's
  # ferry_opts:defaults/0, and docs/OPTIONS.md, which src/config.rs
  # generates), so this doc states them and cannot drift from them.
  @erl_defaults :ferry_opts.defaults()
  @options_md Path.expand("../../docs/OPTIONS.md", __DIR__)
  @external_resource @options_md

  rust_options =
    case File.read(@options_md) do
      {:ok, md} ->
        for "| `" <> row <- String.split(md, "\n"),
            [key, type, default, meaning, _drives] = String.split(row, " | "),
            key = String.trim_trailing(key, "`"),
            key not in ["ip", "port"] do
          "  * `:#{key}` (#{type}) — #{String.trim(meaning)} Defaults to #{default}."
        end

      {:error, _} ->
        ["  * every key of Ferry's `docs/OPTIONS.md`, with its default there"]
    end

  @typedoc """
  Options of `start_link/1` and `child_spec/1`:

    * `:name` (required) — the atom naming the listener, given to
      `port_number/1`, `info/1` and `stop/1`.
    * `:router` (required) — the module answering requests: a
      `Ferry.Router`, or any module exporting `handle/1` as the Erlang
      API describes.
    * `:port` — TCP port; `0` picks a free one (read it back with
      `port_number/1`). Defaults to `#{Ferry.Options.default_port()}`.
    * `:ip` — address to listen on, a tuple such as `{127, 0, 0, 1}` or a
      string such as `"::1"`. Defaults to `"0.0.0.0"` (every IPv4 address).
    * `:shards` — number of Rust processes sharing the address (1..64).
      Defaults to `#{inspect(@erl_defaults.shards)}`.
    * `:restart_backoff` — `{min_ms, max_ms}` between restarts of a failing
      Rust process, doubling from `min_ms` while it keeps failing. Defaults
      to `#{inspect(@erl_defaults.restart_backoff)}`.
    * `:request_timeout` — ms a route may run before its response starts;
      then it is killed and its client gets 503 (`:infinity` allowed).
      Defaults to `#{inspect(@erl_defaults.request_timeout)}`.
    * `:drain_timeout` — ms `stop/1` lets requests in flight finish.
      Defaults to `#{inspect(@erl_defaults.drain_timeout)}`.
    * `:start_timeout` — ms the Rust process may take to report that it
      listens. Defaults to `#{inspect(@erl_defaults.start_timeout)}`.
    * `:heartbeat_timeout` — ms a Rust process may make no progress (leave
      a `stats` request unanswered and write nothing to the VM); past that
      it is taken for hung (stopped, stuck), killed and restarted, with a
      log line (`:infinity` turns this off). Defaults to
      `#{inspect(@erl_defaults.heartbeat_timeout)}`.
    * `:publish_window` — socket writes of fan-out (`Ferry.WebSocket.publish/3`
      and the like) a shard may have been handed and not yet done; a
      publisher past it waits until Rust has written. Defaults to
      `#{inspect(@erl_defaults.publish_window)}`.
    * `:access_log` — `true` (Logger's `:info`) or a level to log one line
      per request (`Ferry.Telemetry`); it turns `:sent_events` on, so the
      line has the bytes written. Defaults to `#{inspect(@erl_defaults.access_log)}`.
    * `:binary` — path of the `ferry` executable. Defaults to `priv/ferry`
      of the `ferry` application, which `mix compile` builds.
    * `:tls` — serve HTTPS (and WSS): a keyword list with `certfile:`,
      `keyfile:` and optionally `password:`, `cacertfile:` with
      `verify: :verify_peer` (and `fail_if_no_peer_cert: true`),
      `sni_hosts: [{"name", certfile: …, keyfile: …}]`,
      `handshake_timeout:`; names as in Erlang's `ssl` (the `tls` row
      below). `reload_tls/1` reads the files again.

  and the options of the Rust process (sizes in bytes, times in ms):

  #{Enum.join(rust_options, "\n")}

  An unknown key or a value of the wrong type raises `ArgumentError`
  naming it (and the keys there are, or what the value must be), from
  `child_spec/1`, before anything starts. A value of the right type that
  the Rust process refuses (out of its range) fails the start with
  `{:error, {:bad_option, key}}` and an error log line saying what the
  value must be; the start also fails when the address cannot be bound
  (`{:error, {:listen_error, kind, message}}`). `:ferry.format_error/1`
  words every start error; `docs/ERLANG_API.md` lists them.
  """
  @type option ::
          {:name, atom()}
          | {:router, module()}
          | {:port, :inet.port_number()}
          | {:ip, :inet.ip_address() | String.t()}
          | {:shards, pos_integer()}
          | {:restart_backoff, {non_neg_integer(), non_neg_integer()}}
          | {:request_timeout, pos_integer() | :infinity}
          | {:drain_timeout, non_neg_integer()}
          | {:start_timeout, pos_integer()}
          | {:heartbeat_timeout, pos_integer() | :infinity}
          | {:publish_window, pos_integer()}
          | {:access_log, boolean() | Logger.level()}
          | {:binary, Path.t()}
          | {atom(), term()}

  @typedoc "A listener's name, the `:name` option."
  @type name :: atom()

  @doc """
  A child specification for a listener, for a supervisor's children:
  `{Ferry, name: MyApp.HTTP, port: 4000, router: MyApp.Router}`.
  Raises `ArgumentError` on a bad option.
  """
  @spec child_spec([option()]) :: Supervisor.child_spec()
  def child_spec(opts) do
    {name, erl_opts} = Ferry.Options.validate!(opts)

    try do
      :ferry.child_spec(name, erl_opts)
    catch
      :error, {:bad_option, _} = reason ->
        reraise ArgumentError, Ferry.Options.describe_error(reason, erl_opts), __STACKTRACE__
    end
  end

  @doc """
  Starts a listener linked to the caller and returns once it is listening
  (`{:ok, pid}`), or returns why it could not, having logged one line that
  says so: `{:error, {:bad_option, key}}`, `{:error, {:listen_error, kind,
  message}}`, … (`docs/ERLANG_API.md` lists them). Prefer `child_spec/1`
  in a supervision tree; its id is `{:ferry_listener, name}`, for
  `Supervisor.terminate_child/2`.
  """
  @spec start_link([option()]) :: Supervisor.on_start()
  def start_link(opts) do
    %{start: {module, function, args}} = child_spec(opts)
    apply(module, function, args)
  end

  @doc """
  Makes the listener `name` read its `tls:` files again (a renewed
  certificate): new connections get it, open ones keep theirs. A file
  that cannot be used keeps the one in use: `{:error, message}`.
  """
  @spec reload_tls(name()) :: :ok | {:error, term()}
  def reload_tls(name) when is_atom(name), do: running(name, &:ferry.reload_tls/1)

  @doc """
  The TCP port the listener `name` is bound to (useful with `port: 0`).

      port = Ferry.port_number(MyApp.HTTP)
  """
  @spec port_number(name()) :: :inet.port_number()
  def port_number(name) when is_atom(name), do: running(name, &:ferry.port_number/1)

  @doc """
  Live figures of the listener `name`: at least `:restarts` (of the Rust
  process), `:connections` (open now), `:requests`, `:os_pid` (of the Rust
  process; `nil` while it is being restarted) and `:port`.

  `:restarts` and `:requests` count over the listener's life. The Rust
  process's own counters (`:accepted`, `:bytes_in`, `:bytes_out`,
  `:ignored_commands`, `:protocol_errors`, …) count since the current Rust
  process started, and are absent while none runs or when it did not
  answer within a second: `info/1` never blocks its caller much longer.
  `:metrics` has the listener's counters over its life: requests by
  status class, crashes, bytes, WebSockets and a latency histogram
  (`Ferry.Telemetry`).

      %{requests: n, os_pid: pid} = Ferry.info(MyApp.HTTP)

  Raises `ArgumentError` when no listener `name` runs.
  """
  @spec info(name()) :: %{
          required(:restarts) => non_neg_integer(),
          required(:connections) => non_neg_integer(),
          required(:requests) => non_neg_integer(),
          required(:os_pid) => non_neg_integer() | nil,
          required(:port) => :inet.port_number(),
          optional(atom()) => term()
        }
  def info(name) when is_atom(name) do
    case running(name, &:ferry.info/1) do
      %{os_pid: :undefined} = info -> %{info | os_pid: nil}
      info -> info
    end
  end

  defp running(name, fun) do
    fun.(name)
  rescue
    ArgumentError ->
      reraise ArgumentError,
              "no Ferry listener named #{inspect(name)} is running",
              __STACKTRACE__
  end

  @doc """
  Stops a listener; the Rust process exits when its port closes.

    * `stop(pid)` — the pid `start_link/1` returned.
    * `stop(name)` — a listener started with `:ferry.start_listener/2`
      (under the `ferry` application's own supervisor): requests in flight
      finish first (`:drain_timeout`). Returns `{:error, :not_found}` when
      there is none.

  A listener in your own supervision tree stops with its supervisor, or
  with `Supervisor.terminate_child/2`.
  """
  @spec stop(name() | pid()) :: :ok | {:error, :not_found}
  def stop(pid) when is_pid(pid), do: Supervisor.stop(pid)
  def stop(name) when is_atom(name), do: :ferry.stop_listener(name)
end
