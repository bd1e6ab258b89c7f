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

  @typedoc """
  Options of `start_link/1` and `child_spec/1`:

    * `:name` (required) — the atom naming the listener, given to
      `port_number/1`, `info/1` and `stop/1`.
    * `:router` (required) — the module answering requests: a
      `Ferry.Router`, or any module exporting `handle/1` as the Erlang
      API describes.
    * `:port` — TCP port; `0` picks a free one (read it back with
      `port_number/1`). Defaults to the `port` default in `docs/OPTIONS.md`.
    * `:ip` — address to listen on, a tuple such as `{127, 0, 0, 1}` or a
      string such as `"::1"`. Defaults to the `ip` default in
      `docs/OPTIONS.md`.
    * `:shards` — number of Rust processes sharing the address. Defaults to
      the `ferry` application's default (`ferry_opts:defaults/0` in
      `erl/src/ferry_opts.erl`, as are the next four).
    * `:restart_backoff` — `{min_ms, max_ms}` between restarts of a failing
      Rust process. Defaults to the `ferry` application's default.
    * `:request_timeout` — ms a route may run before its response starts;
      then it is killed and its client gets 503. Defaults to the `ferry`
      application's default.
    * `:drain_timeout` — ms `stop/1` lets requests in flight finish.
      Defaults to the `ferry` application's default.
    * `:start_timeout` — ms the Rust process may take to report that it
      listens. Defaults to the `ferry` application's default.
    * `:binary` — path of the `ferry` executable. Defaults to `priv/ferry`
      of the `ferry` application, which `mix compile` builds.
    * every other key of `docs/OPTIONS.md` — limits such as `:max_body`,
      `:max_headers`, `:inline_body`, timeouts such as `:idle_timeout`,
      `:header_timeout`, `:handler_timeout`, flow-control windows — is
      passed to the Rust process, which owns its default.

  An unknown key or a value of the wrong type raises `ArgumentError` naming
  it, from `child_spec/1`, before anything starts. A value of the right type
  that the Rust process refuses (out of its range, see `docs/OPTIONS.md`)
  fails the start with `{:bad_option, key}`; the start also fails when the
  address cannot be bound (`{:listen_error, kind, message}`).
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

    case :ferry.child_spec(name, erl_opts) do
      %{} = spec -> spec
      {:error, reason} -> raise ArgumentError, Ferry.Options.describe_error(reason)
    end
  rescue
    error in ErlangError -> raise ArgumentError, Ferry.Options.describe_error(error.original)
  end

  @doc """
  Starts a listener linked to the caller and returns once it is listening.
  Prefer `child_spec/1` in a supervision tree.
  """
  @spec start_link([option()]) :: Supervisor.on_start()
  def start_link(opts) do
    %{start: {module, function, args}} = child_spec(opts)
    apply(module, function, args)
  end

  @doc """
  The TCP port the listener `name` is bound to (useful with `port: 0`).

      port = Ferry.port_number(MyApp.HTTP)
  """
  @spec port_number(name()) :: :inet.port_number()
  def port_number(name) when is_atom(name), do: :ferry.port_number(name)

  @doc """
  Live figures of the listener `name`: at least `:restarts` (of the Rust
  process), `:connections`, `:requests`, `:os_pid` (of the Rust process)
  and `:port`.

      %{requests: n, os_pid: pid} = Ferry.info(MyApp.HTTP)
  """
  @spec info(name()) :: %{
          required(:restarts) => non_neg_integer(),
          required(:connections) => non_neg_integer(),
          required(:requests) => non_neg_integer(),
          required(:os_pid) => non_neg_integer(),
          required(:port) => :inet.port_number(),
          optional(atom()) => term()
        }
  def info(name) when is_atom(name), do: :ferry.info(name)

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
