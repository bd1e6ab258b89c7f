defmodule Ferry.Router.Dispatch do
  # The run-time half of Ferry.Router: builds the conn, runs the router's
  # pipeline (Ferry.Router.Pipeline), whose :match plug finds the route with
  # the compiled __ferry_match__/2 and whose :dispatch plug runs it, and
  # turns the result into the Erlang handler result. Failures of a plug or
  # a route are caught once, here, for the whole request.
  @moduledoc false

  require Logger
  alias Ferry.Conn

  @text_plain [{"content-type", "text/plain; charset=utf-8"}]

  # The route running in this (the request's) process, for the log line of
  # a failure: the conn it ran with is gone by the time the catch sees it.
  @route_key :ferry_route

  @doc false
  def handle(router, req) do
    router.call(Conn.from_req(req), router.init([])) |> to_result(router)
  catch
    # The client went away: ferry ends the handler quietly.
    :exit, {:ferry, :closed, _} = reason -> exit(reason)
    kind, reason -> failed(router, req, kind, reason, __STACKTRACE__)
  end

  @doc false
  # The :match plug: the route of the request, kept for :dispatch; its path
  # parameters are in the conn from now on.
  def match(router, %Conn{} = conn) do
    found = router.__ferry_match__(conn.method, conn.path_info)

    conn =
      case found do
        {:route, _label, path_params, _fun} -> Conn.put_path_params(conn, path_params)
        _ -> conn
      end

    Conn.put_private(conn, @route_key, found)
  end

  @doc false
  # The :dispatch plug: runs the route :match found. A route's binary or
  # tuple becomes a response set on the conn (`resp/3`), over the headers
  # and cookies the plugs set.
  def dispatch(router, %Conn{private: private} = conn) do
    case Map.fetch!(private, @route_key) do
      {:route, label, _path_params, fun} ->
        Process.put(@route_key, {router, label})
        conn |> fun.() |> to_conn(conn)

      {:forward, to, init, consumed, rest} ->
        forwarded = %{conn | path_info: rest, script_name: conn.script_name ++ consumed}
        to.call(forwarded, init) |> to_conn(forwarded)

      :nomatch ->
        case router.__ferry_allow__(conn.path_info) do
          [] ->
            to_conn({404, "Not Found\n"}, conn)

          methods ->
            to_conn({405, [{"allow", Enum.join(methods, ", ")}], "Method Not Allowed\n"}, conn)
        end
    end
  end

  @doc false
  # `assigns:` and `private:` of a route.
  def merge(%Conn{} = conn, :assigns, values), do: Conn.merge_assigns(conn, values)

  def merge(%Conn{private: private} = conn, :private, values),
    do: %{conn | private: Enum.into(values, private)}

  defp to_conn(%Conn{} = conn, _before), do: conn
  defp to_conn(body, conn) when is_binary(body), do: to_conn({200, body}, conn)

  # A body alone is text, unless a plug said otherwise.
  defp to_conn({status, body}, conn) do
    case Conn.get_resp_header(conn, "content-type") do
      [] -> to_conn({status, @text_plain, body}, conn)
      _ -> to_conn({status, [], body}, conn)
    end
  end

  defp to_conn({status, headers, body} = result, conn)
       when (is_integer(status) or is_atom(status)) and (is_list(headers) or is_map(headers)) do
    conn |> Conn.merge_resp_headers(header_pairs(headers, result)) |> Conn.resp(status, body)
  end

  defp to_conn(other, _conn), do: other

  # The header forms the Erlang API takes (ferry_req:headers()).
  defp header_pairs(headers, result) do
    for header <- headers do
      case header do
        {name, value} when (is_binary(name) or is_atom(name)) and is_integer(value) ->
          {Conn.lowercase(to_string(name)), Integer.to_string(value)}

        {name, value}
        when (is_binary(name) or is_atom(name)) and (is_binary(value) or is_list(value)) ->
          {Conn.lowercase(to_string(name)), IO.iodata_to_binary(value)}

        other ->
          raise ArgumentError,
                "a route returned #{inspect(result, limit: 5)}: a header is " <>
                  "{name, value} with a binary name and an iodata value, got: #{inspect(other)}"
      end
    end
  end

  defp to_result(%Conn{state: :unset} = conn, router) do
    Logger.error(
      "#{inspect(router)}: the route for #{conn.method} #{conn.request_path} returned a conn without answering it"
    )

    {500, @text_plain, "Internal Server Error\n"}
  end

  defp to_result(%Conn{state: :set} = conn, _router) do
    conn = Conn.prepare_response(conn)
    {conn.status, conn.resp_headers, conn.resp_body}
  end

  defp to_result(%Conn{state: state} = conn, _router) when state in [:streaming, :sse],
    do: {:done, Conn.stream_end(conn).req}

  # The Erlang side checks the handshake (400, 426) and, when it is good,
  # makes this process the connection's and calls the adapter.
  defp to_result(
         %Conn{state: :websocket, private: %{ferry_websocket: {handler, state, opts}}},
         _router
       ),
       do: {:websocket, Ferry.WebSock.Adapter, {handler, state}, opts}

  defp to_result(%Conn{req: req}, _router), do: {:done, req}

  defp to_result(other, router) do
    Logger.error(
      "#{inspect(router)}: a route returned #{inspect(other, limit: 5)}, not a conn, binary or {status, body}"
    )

    {500, @text_plain, "Internal Server Error\n"}
  end

  defp failed(router, req, kind, reason, stacktrace) do
    case {kind, status_of(kind, reason), :ferry_req.response_state()} do
      # The client's fault (a bad query, a body over the parser's length):
      # its status and message, as Plug adapters answer a plug_status, and
      # no error in the log.
      {:error, status, :none} when status in 400..499 ->
        {status, @text_plain, [Exception.message(reason), ?\n]}

      {_, _, state} ->
        :ferry_lifecycle.exception(kind, reason, stacktrace)

        where =
          case Process.get(@route_key) do
            {route_router, label} -> "#{inspect(route_router)} route #{label}"
            nil -> "#{inspect(router)} plug pipeline"
          end

        Logger.error(
          "#{where} failed for #{req.method} #{req.path}\n" <>
            Exception.format(kind, reason, stacktrace),
          ferry_route: where
        )

        case state do
          :none -> {500, @text_plain, "Internal Server Error\n"}
          :done -> {:done, req}
          # Half a response went out: only ferry can abort it (the client's
          # connection is closed); this exit asks it to, without reporting
          # again what was just logged.
          :streaming -> exit({:ferry, :abort, :logged})
        end
    end
  end

  defp status_of(:error, %{plug_status: status}) when is_integer(status), do: status
  defp status_of(_kind, _reason), do: nil
end
