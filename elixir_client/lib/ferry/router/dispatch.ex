defmodule Ferry.Router.Dispatch do
  # The run-time half of Ferry.Router: builds the conn, finds the route with
  # the router's compiled __ferry_match__/2, runs it, and turns what it
  # returned into the Erlang handler result.
  @moduledoc false

  require Logger
  alias Ferry.Conn

  @text_plain [{"content-type", "text/plain; charset=utf-8"}]

  @doc false
  def handle(router, req) do
    router |> call(Conn.from_req(req)) |> to_result(router)
  end

  @doc false
  def call(router, %Conn{} = conn) do
    case router.__ferry_match__(conn.method, conn.path_info) do
      {:route, label, path_params, fun} ->
        run(router, label, fun, Conn.put_path_params(conn, path_params))

      {:forward, to, consumed, rest} ->
        call(to, %{conn | path_info: rest, script_name: conn.script_name ++ consumed})

      :nomatch ->
        case router.__ferry_allow__(conn.path_info) do
          [] ->
            {404, @text_plain, "Not Found\n"}

          methods ->
            {405, [{"allow", Enum.join(methods, ", ")} | @text_plain], "Method Not Allowed\n"}
        end
    end
  end

  defp run(router, label, fun, conn) do
    fun.(conn)
  catch
    # The client went away: ferry ends the handler quietly.
    :exit, {:ferry, :closed, _} = reason ->
      exit(reason)

    kind, reason ->
      stacktrace = __STACKTRACE__

      Logger.error(
        "#{inspect(router)} route #{label} failed for #{conn.method} #{conn.path}\n" <>
          Exception.format(kind, reason, stacktrace),
        ferry_route: label
      )

      case :ferry_req.response_state() do
        :none -> {500, @text_plain, "Internal Server Error\n"}
        :done -> {:done, conn.req}
        # Half a response went out: only ferry can abort it (the client's
        # connection is closed), which it does for a handler that raises.
        :streaming -> :erlang.raise(kind, reason, stacktrace)
      end
  end

  defp to_result(%Conn{state: :unset} = conn, router) do
    Logger.error(
      "#{inspect(router)}: the route for #{conn.method} #{conn.path} returned a conn without answering it"
    )

    {500, @text_plain, "Internal Server Error\n"}
  end

  defp to_result(%Conn{state: state} = conn, _router) when state in [:streaming, :sse],
    do: {:done, Conn.stream_end(conn).req}

  # The Erlang side checks the handshake (400, 426) and, when it is good,
  # makes this process the connection's and calls the adapter.
  defp to_result(%Conn{state: :websocket, websocket: {handler, state, opts}}, _router),
    do: {:websocket, Ferry.WebSock.Adapter, {handler, state}, opts}

  defp to_result(%Conn{req: req}, _router), do: {:done, req}
  defp to_result(body, _router) when is_binary(body), do: {200, @text_plain, body}
  defp to_result({status, body}, _router) when is_integer(status), do: {status, @text_plain, body}

  defp to_result({status, headers, body}, _router) when is_integer(status) and is_list(headers),
    do: {status, headers, body}

  defp to_result(other, router) do
    Logger.error(
      "#{inspect(router)}: a route returned #{inspect(other, limit: 5)}, not a conn, binary or {status, body}"
    )

    {500, @text_plain, "Internal Server Error\n"}
  end
end
