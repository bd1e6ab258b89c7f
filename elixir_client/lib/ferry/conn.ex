defmodule Ferry.Conn do
  @moduledoc """
  One HTTP request, and the way to answer it, inside a `Ferry.Router` route.

  A route sees the request as `conn`:

      get "/hello/:name" do
        conn
        |> put_resp_header("content-type", "text/plain")
        |> send_resp(200, "hello \#{name}, you asked for \#{conn.path}?\#{conn.query}")
      end

  The fields:

    * `method` — `"GET"`, `"POST"`, … (a binary, never an atom)
    * `path` — the raw request path, not percent-decoded
    * `query` — the raw query string, `""` when absent
    * `version` — `{1, 1}` or `{1, 0}`
    * `headers` — `[{name, value}]`, names lowercase, order and duplicates kept
    * `peer` — `{ip, port}` of the client
    * `body` — the body when it arrived whole, or `:stream`: then read it
      with `read_body/2`
    * `params` — the path parameters (`:id` segments) merged over the
      query parameters; string keys
    * `path_params`, `query_params` — the two halves of `params`
    * `path_info` — the path segments, percent-decoded, still to route
      (a `forward` consumes its prefix)
    * `script_name` — the segments a `forward` consumed
    * `resp_headers` — headers set with `put_resp_header/3`, sent by the
      next `send_resp/3`, `stream_start/2` or `sse_start/1`
    * `state` — `:unset`, `:sent`, `:streaming`, `:sse` or `:websocket`
      (after `upgrade_websocket/4`)
    * `websocket` — the handler, state and options `upgrade_websocket/4`
      was given, `nil` before

  The functions that answer (`send_resp/3`, `send_file/5`, `stream_start/2`,
  `stream_chunk/2`, `stream_end/1`, `sse_start/1`, `send_event/2`) write to
  the client at once and return the updated conn; a route returns the last
  one. They must be called from the process that runs the route.

  Files move between the socket and the disk in the Rust process, without
  entering the BEAM: `send_file/5` answers with a file, `read_body_to_file/2`
  writes the request body to one. `Ferry.Static` serves a directory and
  `Ferry.Multipart` reads forms with file uploads.
  """

  alias Ferry.Conn

  @sse_headers [{"content-type", "text/event-stream"}, {"cache-control", "no-cache"}]

  @typedoc "Header name (lowercase) and value."
  @type header :: {binary(), binary()}

  @typedoc """
  Where the response is: nothing sent, sent whole, a stream (chunked or SSE)
  in progress, or a WebSocket upgrade to make once the route returns.
  """
  @type state :: :unset | :sent | :streaming | :sse | :websocket

  @typedoc "A request being answered. See the module doc for the fields."
  @type t :: %Conn{
          method: binary(),
          path: binary(),
          query: binary(),
          version: {1, 0} | {1, 1},
          headers: [header()],
          peer: {:inet.ip_address(), :inet.port_number()},
          body: binary() | :stream,
          params: %{optional(binary()) => binary() | [binary()]},
          path_params: %{optional(binary()) => binary() | [binary()]},
          query_params: %{optional(binary()) => binary()},
          path_info: [binary()],
          script_name: [binary()],
          resp_headers: [header()],
          state: state(),
          websocket: nil | {module(), term(), map()},
          req: map()
        }

  defstruct method: "GET",
            path: "/",
            query: "",
            version: {1, 1},
            headers: [],
            peer: nil,
            body: "",
            params: %{},
            path_params: %{},
            query_params: %{},
            path_info: [],
            script_name: [],
            resp_headers: [],
            state: :unset,
            websocket: nil,
            req: %{}

  @doc """
  Builds a conn from the request map the Erlang side hands to a handler
  (see `docs/ERLANG_API.md`). Percent-decoding is lenient, as browsers are:
  a `%` not followed by two hex digits is kept as it is.
  """
  @spec from_req(map()) :: t()
  def from_req(%{method: method, path: path} = req) do
    query = Map.get(req, :query, "")

    %Conn{
      method: method,
      path: path,
      query: query,
      version: Map.get(req, :version, {1, 1}),
      headers: Map.get(req, :headers, []),
      peer: Map.get(req, :peer),
      body: Map.get(req, :body, ""),
      query_params: decode_query(query),
      path_info: path |> String.split("/", trim: true) |> Enum.map(&URI.decode/1),
      req: req
    }
    |> merge_params()
  end

  @doc false
  @spec put_path_params(t(), %{optional(binary()) => binary() | [binary()]}) :: t()
  def put_path_params(%Conn{} = conn, params) when map_size(params) == 0, do: conn

  def put_path_params(%Conn{path_params: old} = conn, params) do
    merge_params(%{conn | path_params: Map.merge(old, params)})
  end

  defp merge_params(conn), do: %{conn | params: Map.merge(conn.query_params, conn.path_params)}

  defp decode_query(""), do: %{}

  defp decode_query(query), do: URI.decode_query(query)

  @doc """
  The values of request header `name` (lowercase), in order.

      ["text/html"] = get_req_header(conn, "accept")
  """
  @spec get_req_header(t(), binary()) :: [binary()]
  def get_req_header(%Conn{headers: headers}, name) when is_binary(name) do
    for {^name, value} <- headers, do: value
  end

  @doc """
  Sets response header `name` (lowercase) to `value`, replacing an earlier
  value. It is sent with the next `send_resp/3`, `stream_start/2` or
  `sse_start/1`.
  """
  @spec put_resp_header(t(), binary(), binary()) :: t()
  def put_resp_header(%Conn{state: :unset, resp_headers: headers} = conn, name, value)
      when is_binary(name) and is_binary(value) do
    %{conn | resp_headers: List.keystore(headers, name, 0, {name, value})}
  end

  def put_resp_header(%Conn{}, name, _value) do
    raise Ferry.AlreadySentError,
          "cannot set header #{inspect(name)}: the response was already sent"
  end

  @doc """
  Sends a whole response: `status`, the headers set so far, and `body`
  (iodata). Returns the conn in state `:sent`; a route returns it. A body
  larger than the send window is streamed to the client under flow
  control, so this call returns once the client has taken most of it.

      send_resp(conn, 201, "created")

  A 1xx status (103 Early Hints) sends an informational response with the
  headers set so far (`body` is ignored; nothing goes to an HTTP/1.0
  client) and leaves the conn `:unset`, for the final response:

      conn
      |> put_resp_header("link", "</app.css>; rel=preload")
      |> send_resp(103, "")
      |> send_resp(200, page)
  """
  @spec send_resp(t(), 100..599, iodata()) :: t()
  def send_resp(%Conn{state: :unset} = conn, status, body)
      when is_integer(status) and status < 200 do
    %{conn | req: :ferry_req.reply(status, conn.resp_headers, body, conn.req)}
  end

  def send_resp(%Conn{state: :unset} = conn, status, body) when is_integer(status) do
    req = :ferry_req.reply(status, conn.resp_headers, body, conn.req)
    %{conn | req: req, state: :sent}
  end

  def send_resp(%Conn{}, _status, _body),
    do: raise(Ferry.AlreadySentError, "the response was already sent")

  @doc """
  Reads the next part of the request body. `{:ok, data, conn}` when `data`
  ends the body, `{:more, data, conn}` when there is more to read. When the
  body arrived whole (`conn.body` is a binary) it is returned at once.

  Options: `:length` — bytes to ask for per call; `:timeout` — ms to wait.
  Both default to the `ferry_req:read_body/2` defaults.

      def count(conn, total) do
        case read_body(conn, length: 1_048_576) do
          {:more, data, conn} -> count(conn, total + byte_size(data))
          {:ok, data, conn} -> {conn, total + byte_size(data)}
        end
      end
  """
  @spec read_body(t(), keyword()) :: {:ok, binary(), t()} | {:more, binary(), t()}
  def read_body(%Conn{} = conn, opts \\ []) do
    {tag, data, req} = :ferry_req.read_body(conn.req, Map.new(opts))
    {tag, data, %{conn | req: req}}
  end

  @doc """
  Reads the whole request body, refusing it past `max_bytes` (what was read
  is dropped; the route decides what to answer).

      case read_full_body(conn, 1_000_000) do
        {:ok, body, conn} -> send_resp(conn, 200, body)
        {:error, :too_large} -> {413, "too large"}
      end
  """
  @spec read_full_body(t(), non_neg_integer()) :: {:ok, binary(), t()} | {:error, :too_large}
  def read_full_body(%Conn{} = conn, max_bytes) when is_integer(max_bytes) and max_bytes >= 0 do
    case :ferry_req.read_full_body(conn.req, max_bytes) do
      {:ok, body, req} -> {:ok, body, %{conn | req: req}}
      {:error, :too_large} = error -> error
    end
  end

  @doc """
  Sends the file at `path` as the response (`Plug.Conn.send_file/5`'s
  shape): all of it, or `length` bytes (`:all`: to the end) from `offset`.
  The Rust process sends the bytes with `sendfile(2)`: they never enter the
  BEAM, and this returns at once. Returns the conn in state `:sent`.

      conn
      |> put_resp_header("content-type", "application/pdf")
      |> send_file(200, "priv/manual.pdf")

  With `length: :all` the file is looked at first: a missing file, a
  directory or an `offset` past its end raises `File.Error` here, so the
  route can still answer. With an explicit `length` the route vouches for
  it; a file the Rust process cannot open or finds shorter is answered 500
  and logged. A `content-length` header set by the route must equal the
  length sent. HEAD (and 204, 304) get only the head.
  """
  @spec send_file(t(), 200..599, Path.t(), non_neg_integer(), non_neg_integer() | :all) :: t()
  def send_file(conn, status, path, offset \\ 0, length \\ :all)

  def send_file(%Conn{state: :unset} = conn, status, path, offset, length)
      when is_integer(status) and status >= 200 and is_binary(path) and is_integer(offset) and
             offset >= 0 and (length == :all or (is_integer(length) and length >= 0)) do
    req = :ferry_req.send_file(status, conn.resp_headers, {path, offset, length}, conn.req)
    %{conn | req: req, state: :sent}
  catch
    :error, {:ferry, :send_file, {_, reason}} ->
      raise File.Error, reason: reason, action: "send file", path: path
  end

  def send_file(%Conn{state: :unset}, status, path, offset, length) do
    raise ArgumentError,
          "send_file needs a status 200..599, a path (binary), an offset >= 0 and a length " <>
            ">= 0 or :all, got: #{inspect({status, path, offset, length})}"
  end

  def send_file(%Conn{}, _status, _path, _offset, _length),
    do: raise(Ferry.AlreadySentError, "the response was already sent")

  @doc """
  Writes the request body to a file without it entering the BEAM (the Rust
  process writes what it reads from the socket) and returns where, how many
  bytes, and their SHA-256 when asked:

      {:ok, %{path: path, bytes: bytes, sha256: sha}, conn} =
        read_body_to_file(conn, digest: :sha256)

  Options (defaults in `ferry_opts:file_defaults(body_to_file)`):

    * `:path` — the file to create or truncate, or `:tmp` (the default): a
      new file under the listener's `:upload_dir` option, deleted when the
      route's process ends unless the route moved it (`File.rename/2`) or
      called `:ferry_tmp.keep(path)`.
    * `:max` — refuse a body over this many bytes (the listener's
      `:max_body` applies too).
    * `:digest` — `:sha256` for the body's SHA-256 (32 bytes), or `:none`.
    * `:timeout` — ms to wait for the whole body; the Rust process already
      cuts clients that send too slowly.

  A body over `:max` is answered 413, and a file that cannot be written 500,
  by the Rust process, which removes the file; the route then ends quietly,
  as when the client goes away. Call it instead of `read_body/2`, before
  any of the body was read.
  """
  @spec read_body_to_file(t(), keyword()) ::
          {:ok, %{path: binary(), bytes: non_neg_integer(), sha256: binary() | nil}, t()}
  def read_body_to_file(%Conn{} = conn, opts \\ []) do
    {:ok, info, req} = :ferry_req.read_body_to_file(conn.req, Map.new(opts))
    {:ok, %{info | sha256: nil_if_undefined(info.sha256)}, %{conn | req: req}}
  end

  defp nil_if_undefined(:undefined), do: nil
  defp nil_if_undefined(value), do: value

  @doc """
  Starts a streamed (chunked) response with `status` and the headers set so
  far. Send parts with `stream_chunk/2` and finish with `stream_end/1`.

      conn = stream_start(conn, 200)
      conn = Enum.reduce(1..3, conn, &stream_chunk(&2, "line \#{&1}\\n"))
      stream_end(conn)

  A client that reads slower than the route writes makes `stream_chunk/2`
  wait, so memory stays bounded.
  """
  @spec stream_start(t(), 100..599) :: t()
  def stream_start(%Conn{state: :unset} = conn, status \\ 200) when is_integer(status) do
    req = :ferry_req.stream_reply(status, conn.resp_headers, conn.req)
    %{conn | req: req, state: :streaming}
  end

  @doc "Sends one part of a streamed response started by `stream_start/2`."
  @spec stream_chunk(t(), iodata()) :: t()
  def stream_chunk(%Conn{state: :streaming} = conn, data) do
    %{conn | req: :ferry_req.stream_body(data, :nofin, conn.req)}
  end

  @doc "Ends a streamed response started by `stream_start/2` or `sse_start/1`."
  @spec stream_end(t()) :: t()
  def stream_end(%Conn{state: state} = conn) when state in [:streaming, :sse] do
    %{conn | req: :ferry_req.stream_body("", :fin, conn.req), state: :sent}
  end

  @doc """
  Starts a server-sent-events response: status 200, `content-type:
  text/event-stream`, `cache-control: no-cache`, and the headers set so far
  (which may replace those two). Send events with `send_event/2`; the stream
  ends when the route returns.

      conn = sse_start(conn)
      send_event(conn, %{event: "tick", data: "1"})
  """
  @spec sse_start(t()) :: t()
  def sse_start(%Conn{state: :unset} = conn) do
    headers =
      Enum.reduce(conn.resp_headers, @sse_headers, fn {name, _} = header, acc ->
        List.keystore(acc, name, 0, header)
      end)

    %{conn | req: :ferry_req.stream_reply(200, headers, conn.req), state: :sse}
  end

  @doc """
  Sends one server-sent event: iodata (sent as `data:` lines) or a map with
  `:data` and optionally `:event`, `:id` (single lines) and `:retry` (ms).
  """
  @spec send_event(
          t(),
          iodata()
          | %{optional(:data | :event | :id) => iodata(), optional(:retry) => non_neg_integer()}
        ) ::
          t()
  def send_event(%Conn{state: :sse} = conn, event) do
    %{conn | req: :ferry_req.send_event(event, conn.req)}
  end

  @upgrade_options [:compress, :hibernate, :protocol, :headers]

  @doc """
  Upgrades the request to a WebSocket run by `handler`, a module of the
  `Ferry.WebSock` behaviour (or any `WebSock` module written for Bandit),
  starting from `state`; like `WebSockAdapter.upgrade/4`. The route returns
  the conn and the upgrade happens then: the route's process becomes the
  connection's process and calls `handler.init(state)`.

      get "/ws/room/:room" do
        upgrade_websocket(conn, MyApp.RoomSocket, %{room: room}, compress: true)
      end

  `Ferry.Router.websocket/4` is the short form for a route that always
  upgrades. A request that is not a valid WebSocket handshake is answered
  by ferry instead: 426 with `sec-websocket-version: 13` for another
  protocol version, 400 for anything else wrong. A route that wants to
  refuse (no session, no such room) answers as usual instead of upgrading.

  Options (unset ones take the defaults of the Erlang `ferry_websocket`
  behaviour, `docs/ERLANG_API.md`):

    * `:compress` — accept permessage-deflate when the client offers it
      and the listener's `ws_deflate` allows it. Defaults to `true`.
    * `:hibernate` — hibernate the process whenever it is idle, which
      trades CPU for memory on many quiet connections. Defaults to `false`.
    * `:protocol` — the subprotocol to accept, one of those the client
      offered in `sec-websocket-protocol`.
    * `:headers` — `[{name, value}]` added to the 101 response, after the
      headers set with `put_resp_header/3`.

  Frame and message size limits and the idle timeout are listener options
  (`ws_max_frame`, `ws_max_message`, `ws_idle_timeout` in
  `docs/OPTIONS.md`). Raises `ArgumentError` for an unknown option or a
  handler module that does not exist.
  """
  @spec upgrade_websocket(t(), module(), term(), keyword()) :: t()
  def upgrade_websocket(conn, handler, state, opts \\ [])

  def upgrade_websocket(%Conn{state: :unset} = conn, handler, state, opts)
      when is_atom(handler) and is_list(opts) do
    unless Code.ensure_loaded?(handler) and function_exported?(handler, :handle_in, 2) do
      raise ArgumentError,
            "upgrade_websocket: #{inspect(handler)} is not a module with handle_in/2 (use Ferry.WebSock)"
    end

    erl_opts =
      opts
      |> Enum.reduce(%{}, &upgrade_option/2)
      |> Map.update(:headers, conn.resp_headers, &(conn.resp_headers ++ &1))
      |> drop_empty_headers()
      # Pings and pongs cross the port only for a handler that wants them.
      |> put_control(function_exported?(handler, :handle_control, 2))

    %{conn | state: :websocket, websocket: {handler, state, erl_opts}}
  end

  def upgrade_websocket(%Conn{state: :unset}, handler, _state, opts) do
    raise ArgumentError,
          "upgrade_websocket takes a handler module and a keyword list, got: " <>
            "#{inspect(handler)}, #{inspect(opts)}"
  end

  def upgrade_websocket(%Conn{}, _handler, _state, _opts),
    do: raise(Ferry.AlreadySentError, "cannot upgrade: the response was already sent")

  defp upgrade_option({:compress, value}, acc) when is_boolean(value),
    do: Map.put(acc, :deflate, value)

  defp upgrade_option({:hibernate, value}, acc) when is_boolean(value),
    do: Map.put(acc, :hibernate, value)

  defp upgrade_option({:protocol, value}, acc) when is_binary(value),
    do: Map.put(acc, :protocol, value)

  defp upgrade_option({:headers, headers}, acc) when is_list(headers) do
    for header <- headers,
        not match?({name, value} when is_binary(name) and is_binary(value), header) do
      raise ArgumentError,
            "upgrade_websocket: a header is {name, value} binaries, got: #{inspect(header)}"
    end

    Map.put(acc, :headers, headers)
  end

  defp upgrade_option({key, value}, _acc) when key in @upgrade_options do
    raise ArgumentError, "upgrade_websocket: bad value for #{inspect(key)}: #{inspect(value)}"
  end

  defp upgrade_option(other, _acc) do
    raise ArgumentError,
          "upgrade_websocket: unknown option #{inspect(other)}; the options are " <>
            "#{inspect(@upgrade_options)} (size limits and timeouts are listener options)"
  end

  defp drop_empty_headers(%{headers: []} = opts), do: Map.delete(opts, :headers)
  defp drop_empty_headers(opts), do: opts

  defp put_control(opts, true), do: Map.put(opts, :control, true)
  defp put_control(opts, false), do: opts
end
