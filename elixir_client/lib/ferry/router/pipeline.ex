defmodule Ferry.Router.Pipeline do
  # The `plug` half of Ferry.Router, after Plug.Builder: the plugs of a
  # router, in order, compiled into one function
  #
  #   __ferry_pipeline__(conn) -> what the route returned
  #
  # that calls each plug and stops at a halted conn. `plug :match` and
  # `plug :dispatch` mark where routing happens, as in Plug.Router; a
  # router that names neither routes after its last plug. Module plugs are
  # initialised once, at compile time (Plug's default).
  @moduledoc false

  @doc false
  def plug(plug, opts, caller) do
    case plug do
      {:when, _, _} ->
        compile_error!(
          caller,
          "plug guards (plug :x when ...) are not supported; test in the plug"
        )

      _ ->
        :ok
    end

    plug = Macro.expand(plug, %{caller | function: {:init, 1}})

    unless is_atom(plug) do
      compile_error!(
        caller,
        "plug takes a module or the name of a function, got: #{Macro.to_string(plug)}"
      )
    end

    quote do
      @ferry_plugs {unquote(plug), unquote(opts), unquote(caller.line)}
    end
  end

  @doc false
  def compile(env, plugs) do
    names = Enum.map(plugs, &elem(&1, 0))
    plugs = routing(plugs, names, env)
    conn = Macro.var(:conn, __MODULE__)

    [last | earlier] = Enum.reverse(plugs)

    body =
      Enum.reduce(earlier, call(last, conn, env), fn plug, next ->
        quote do
          case unquote(call(plug, conn, env)) do
            %Ferry.Conn{halted: true} = unquote(conn) -> unquote(conn)
            %Ferry.Conn{} = unquote(conn) -> unquote(next)
            other -> Ferry.Router.Pipeline.not_a_conn!(unquote(label(plug)), other)
          end
        end
      end)

    quote do
      @doc false
      def __ferry_pipeline__(unquote(conn)), do: unquote(body)
    end
  end

  # Where :match and :dispatch go: named by the router, or after every plug.
  defp routing(plugs, names, env) do
    case {Enum.count(names, &(&1 == :match)), Enum.count(names, &(&1 == :dispatch))} do
      {0, 0} ->
        plugs ++ [{:match, [], env.line}, {:dispatch, [], env.line}]

      {1, 1} ->
        match_at = Enum.find_index(names, &(&1 == :match))
        dispatch_at = Enum.find_index(names, &(&1 == :dispatch))

        cond do
          dispatch_at < match_at ->
            compile_error!(env, "plug :dispatch must come after plug :match")

          dispatch_at != length(names) - 1 ->
            compile_error!(
              env,
              "plug :dispatch must be the last plug: the route's answer is the pipeline's"
            )

          true ->
            plugs
        end

      _ ->
        compile_error!(env, "name both plug :match and plug :dispatch once, or neither")
    end
  end

  defp call({:match, _opts, _line}, conn, env),
    do: quote(do: Ferry.Router.Dispatch.match(unquote(env.module), unquote(conn)))

  defp call({:dispatch, _opts, _line}, conn, env),
    do: quote(do: Ferry.Router.Dispatch.dispatch(unquote(env.module), unquote(conn)))

  defp call({plug, opts, line}, conn, env) do
    case Atom.to_charlist(plug) do
      ~c"Elixir." ++ _ ->
        :ok = ensure_plug!(plug, "plug", %{env | line: line})
        init = Macro.escape(plug.init(opts))
        quote(do: unquote(plug).call(unquote(conn), unquote(init)))

      _ ->
        # A function plug: a function of the router, or an imported one
        # (the Ferry.Conn functions: plug :fetch_cookies).
        {plug, [line: line], [conn, Macro.escape(opts)]}
    end
  end

  @doc false
  # A module plug (of `plug`, a route's `to:`, `forward`) must exist and
  # have init/1 and call/2 when the router compiles, which calls its init.
  def ensure_plug!(plug, what, env) do
    case Code.ensure_compiled(plug) do
      {:module, _} ->
        unless function_exported?(plug, :init, 1) and function_exported?(plug, :call, 2) do
          compile_error!(env, "#{what} #{inspect(plug)} must define init/1 and call/2")
        end

        :ok

      {:error, why} ->
        compile_error!(env, "#{what} #{inspect(plug)} is not an available module (#{why})")
    end
  end

  defp label({plug, _, _}), do: inspect(plug)

  @doc false
  def not_a_conn!(plug, other) do
    raise ArgumentError,
          "plug #{plug} returned #{inspect(other, limit: 5)}; a plug must return a Ferry.Conn"
  end

  defp compile_error!(env, message) do
    raise CompileError, file: env.file, line: env.line, description: message
  end
end
