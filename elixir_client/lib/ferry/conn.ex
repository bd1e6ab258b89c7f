defmodule Ferry.Conn do
  @moduledoc """
  One HTTP request, and the way to answer it, inside a `Ferry.Router` route.
  It speaks Plug: the fields and functions below have `Plug.Conn`'s names
  and meaning, so code moved from a Plug router needs few edits
  (docs/PLUG.md says which remain).

      get "/hello/:name" do
        conn
        |> put_resp_content_type("text/plain")
        |> send_resp(200, "hello \#{name}, you asked for \#{conn.request_path}?\#{conn.query_string}")
      end

  The request fields:

    * `method` — `"GET"`, `"POST"`, … (a binary, never an atom)
    * `request_path` — the raw request path, not percent-decoded
    * `query_string` — the raw query string, `""` when absent
    * `req_headers` — `[{name, value}]`, names lowercase, order and
      duplicates kept
    * `remote_ip` — the client's address, a tuple
    * `host`, `port` — from the `host` header (`""` and 80 without one);
      `scheme` — `:https` on a listener with `tls:`, else `:http`
      (`get_peer_data/1` gives the client's certificate)
    * `path_info` — the path segments, percent-decoded, still to route
      (a `forward` consumes its prefix); `script_name` — those it consumed
    * `path_params` — the `:name` segments of the route
    * `query_params` — the query string decoded (`Ferry.Conn.Query`:
      `a[b]=1` nests); `fetch_query_params/2` has nothing left to do
    * `body_params` — what `Ferry.Parsers` read from the body; unfetched
      before (reading a key raises, saying so)
    * `params` — `query_params`, then `body_params`, then `path_params`
      merged, the later winning
    * `req_cookies`, `cookies` — unfetched until `fetch_cookies/2`
    * `version` — `{1, 1}` or `{1, 0}`
    * `body` — the body when it arrived whole, or `:stream`: either way read
      it with `read_body/2`

  What the route builds:

    * `assigns` — `assign/3`; `private` — `put_private/3`
    * `halted` — `halt/1`: a `plug` pipeline stops there
    * `status`, `resp_body` — `put_status/2`, `resp/3`
    * `resp_headers` — headers set with `put_resp_header/3`, sent by the
      next `send_resp/3`, `send_chunked/2` or `sse_start/1`
    * `resp_cookies` — `put_resp_cookie/4`, sent with them
    * `state` — `:unset`, `:set` (after `resp/3`), `:sent`, `:streaming`
      (Plug's `:chunked`), `:sse` or `:websocket` (after
      `upgrade_websocket/4`)
    * `websocket` — the handler, state and options `upgrade_websocket/4`
      was given, `nil` before

  Ferry's earlier names are kept, with the same values: `path`
  (`request_path`), `query` (`query_string`), `headers` (`req_headers`),
  `peer` (`{remote_ip, client port}`); `stream_start/2`, `stream_chunk/2`
  (`send_chunked/2`, `chunk/2`).

  The functions that answer (`send_resp/3`, `send_file/5`, `send_chunked/2`, `chunk/2`,
  `stream_end/1`, `sse_start/1`, `send_event/2`, `redirect/2`) write to the
  client at once and return the updated conn; a route returns the last
  one. They must be called from the process that runs the route.

  Files move between the socket and the disk in the Rust process, without
  entering the BEAM: `send_file/5` answers with a file, `read_body_to_file/2`
  writes the request body to one. `Ferry.Static` serves a directory and
  `Ferry.Multipart` reads forms with file uploads.
  """

  alias Ferry.Conn
  alias Ferry.Conn.Unfetched

  @sse_headers [{"content-type", "text/event-stream"}, {"cache-control", "no-cache"}]

  @typedoc "Header name (lowercase) and value."
  @type header :: {binary(), binary()}

  @typedoc """
  Where the response is: nothing sent, set with `resp/3` and not sent yet,
  sent whole, a stream (chunked or SSE) in progress, or a WebSocket upgrade
  to make once the route returns.
  """
  @type state :: :unset | :set | :sent | :streaming | :sse | :websocket

  @typedoc "Params: string keys; values strings, lists or maps of them."
  @type params :: %{optional(binary()) => term()}

  @typedoc "A request being answered. See the module doc for the fields."
  @type t :: %Conn{
          method: binary(),
          request_path: binary(),
          query_string: binary(),
          req_headers: [header()],
          remote_ip: :inet.ip_address() | nil,
          host: binary(),
          port: :inet.port_number(),
          scheme: :http | :https,
          version: {1, 0} | {1, 1},
          body: binary() | :stream,
          params: params(),
          path_params: params(),
          query_params: params(),
          body_params: params() | Unfetched.t(),
          req_cookies: %{optional(binary()) => binary()} | Unfetched.t(),
          cookies: %{optional(binary()) => binary()} | Unfetched.t(),
          path_info: [binary()],
          script_name: [binary()],
          assigns: %{optional(atom()) => term()},
          private: %{optional(atom()) => term()},
          halted: boolean(),
          status: nil | 100..599,
          resp_body: nil | iodata(),
          resp_headers: [header()],
          resp_cookies: %{optional(binary()) => map()},
          state: state(),
          path: binary(),
          query: binary(),
          headers: [header()],
          peer: {:inet.ip_address(), :inet.port_number()} | nil,
          req: map()
        }

  defstruct method: "GET",
            request_path: "/",
            query_string: "",
            req_headers: [],
            remote_ip: nil,
            host: "",
            port: 80,
            scheme: :http,
            version: {1, 1},
            body: "",
            params: %{},
            path_params: %{},
            query_params: %{},
            body_params: %Unfetched{aspect: :body_params},
            req_cookies: %Unfetched{aspect: :req_cookies},
            cookies: %Unfetched{aspect: :cookies},
            path_info: [],
            script_name: [],
            assigns: %{},
            private: %{},
            halted: false,
            status: nil,
            resp_body: nil,
            resp_headers: [],
            resp_cookies: %{},
            state: :unset,
            # Ferry's earlier names of request_path, query_string,
            # req_headers and {remote_ip, port}.
            path: "/",
            query: "",
            headers: [],
            peer: nil,
            req: %{}

  @doc """
  Builds a conn from the request map the Erlang side hands to a handler
  (see `docs/ERLANG_API.md`). The path and the query string are decoded by
  the rules the Erlang side uses ("Paths and query strings" there): path
  segments split on `/`, empty ones left out, each percent-decoded; a bad
  `%` escape in the path raises `Ferry.Conn.MalformedURIError`, a bad
  query string `Ferry.Conn.InvalidQueryError`: both answer 400.
  """
  @spec from_req(map()) :: t()
  def from_req(%{method: method, path: path} = req) do
    query = Map.get(req, :query, "")
    headers = Map.get(req, :headers, [])
    peer = Map.get(req, :peer)
    scheme = :ferry_req.scheme(req)
    {host, port} = host_and_port(headers, scheme)

    %Conn{
      method: method,
      request_path: path,
      query_string: query,
      req_headers: headers,
      remote_ip: peer && elem(peer, 0),
      scheme: scheme,
      host: host,
      port: port,
      version: Map.get(req, :version, {1, 1}),
      body: Map.get(req, :body, ""),
      query_params: Ferry.Conn.Query.decode(query),
      path_info: path_info(path),
      path: path,
      query: query,
      headers: headers,
      peer: peer,
      req: req
    }
    |> merge_params()
  end

  defp path_info(path) do
    case :ferry_router.split_path(path) do
      {:ok, segments} ->
        segments

      {:error, :bad_path} ->
        case path do
          # OPTIONS * and the like: a request target that is not a path.
          "/" <> _ ->
            raise Ferry.Conn.MalformedURIError,
                  "the path #{inspect(path)} has a % not followed by two hex digits"

          _ ->
            []
        end
    end
  end

  # Cowboy's and Plug's reading of the host header: an IPv6 literal in
  # brackets or a name, then `:port` (1 to 5 digits) or nothing, for 80 or
  # 443. A value that is neither is the host as it came, with that default.
  defp host_and_port(headers, scheme) do
    default = if scheme == :https, do: 443, else: 80

    case List.keyfind(headers, "host", 0) do
      {"host", value} -> split_host(value, default)
      nil -> {"", default}
    end
  end

  defp split_host("[" <> _ = value, default) do
    with {at, 1} <- :binary.match(value, "]"),
         {:ok, port} <- host_port(binary_part(value, at + 1, byte_size(value) - at - 1), default) do
      {lowercase(binary_part(value, 0, at + 1)), port}
    else
      _ -> split_name(value, default)
    end
  end

  defp split_host(value, default), do: split_name(value, default)

  defp split_name(value, default) do
    {name, rest} =
      case :binary.match(value, ":") do
        {at, 1} -> {binary_part(value, 0, at), binary_part(value, at, byte_size(value) - at)}
        :nomatch -> {value, ""}
      end

    case host_port(rest, default) do
      {:ok, port} -> {lowercase(name), port}
      :error -> {value, default}
    end
  end

  defp host_port("", default), do: {:ok, default}

  defp host_port(":" <> digits, _default) when byte_size(digits) in 1..5 do
    if digits?(digits), do: {:ok, String.to_integer(digits)}, else: :error
  end

  defp host_port(_, _default), do: :error

  defp digits?(<<c, rest::binary>>) when c in ?0..?9, do: digits?(rest)
  defp digits?(<<>>), do: true
  defp digits?(_), do: false

  # HTTP's names (header names, hosts) are ASCII and case-insensitive: most
  # arrive lowercase already, and are returned as they are.
  @doc false
  @spec lowercase(binary()) :: binary()
  def lowercase(name) do
    if lowercase?(name), do: name, else: String.downcase(name, :ascii)
  end

  defp lowercase?(<<c, _::binary>>) when c in ?A..?Z, do: false
  defp lowercase?(<<_, rest::binary>>), do: lowercase?(rest)
  defp lowercase?(<<>>), do: true

  @doc """
  The client's side of the connection, as Plug's `get_peer_data/1`:
  `address`, `port`, and `ssl_cert` (the client's certificate, DER, when
  the listener's `tls:` has `verify: :verify_peer` and one was checked;
  else `nil`).
  """
  @spec get_peer_data(t()) :: %{
          address: :inet.ip_address() | nil,
          port: :inet.port_number() | nil,
          ssl_cert: binary() | nil
        }
  def get_peer_data(%Conn{peer: peer, req: req}) do
    {address, port} = peer || {nil, nil}

    cert =
      case :ferry_tls.peer_cert(req || %{}) do
        :undefined -> nil
        der -> der
      end

    %{address: address, port: port, ssl_cert: cert}
  end

  @doc """
  What TLS negotiated for the connection (`:version`, `:cipher`, `:alpn`,
  `:sni`, `:peer_cert`), or `nil` over plain TCP.
  """
  @spec tls_info(t()) :: map() | nil
  def tls_info(%Conn{req: req}) do
    case :ferry_tls.info(req || %{}) do
      :undefined -> nil
      info -> info
    end
  end

  @doc false
  @spec put_path_params(t(), params()) :: t()
  def put_path_params(%Conn{} = conn, params) when map_size(params) == 0, do: conn

  def put_path_params(%Conn{path_params: old} = conn, params) do
    merge_params(%{conn | path_params: Map.merge(old, params)})
  end

  @doc false
  # params: the query, then the body (once parsed), then the path.
  @spec merge_params(t()) :: t()
  def merge_params(%Conn{body_params: %Unfetched{}} = conn),
    do: %{conn | params: Map.merge(conn.query_params, conn.path_params)}

  def merge_params(conn) do
    params = conn.query_params |> Map.merge(conn.body_params) |> Map.merge(conn.path_params)
    %{conn | params: params}
  end

  @doc """
  The values of request header `name` (lowercase), in order.

      ["text/html"] = get_req_header(conn, "accept")
  """
  @spec get_req_header(t(), binary()) :: [binary()]
  def get_req_header(%Conn{req_headers: headers}, name) when is_binary(name) do
    name = lowercase(name)
    for {^name, value} <- headers, do: value
  end

  @doc """
  Sets response header `name` to `value`, replacing an earlier value. The
  name is lowercased (HTTP names are case-insensitive), so
  `"Content-Type"` replaces `"content-type"` rather than going out beside
  it. It is sent with the next `send_resp/3`, `send_chunked/2` or
  `sse_start/1`.
  """
  @spec put_resp_header(t(), binary(), binary()) :: t()
  def put_resp_header(%Conn{state: state, resp_headers: headers} = conn, name, value)
      when state in [:unset, :set] and is_binary(name) and is_binary(value) do
    name = lowercase(name)
    %{conn | resp_headers: List.keystore(headers, name, 0, {name, value})}
  end

  def put_resp_header(%Conn{}, name, _value) do
    raise Ferry.AlreadySentError,
          "cannot set header #{inspect(name)}: the response was already sent"
  end

  @doc """
  Sends a whole response: `status` (a code or a name such as `:not_found`,
  `Ferry.Conn.Status`), the headers and cookies set so far, and `body`
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
  @spec send_resp(t(), Ferry.Conn.Status.t(), iodata()) :: t()
  def send_resp(%Conn{state: state} = conn, status, body) when state in [:unset, :set] do
    unsent!("send_resp/3")

    case Ferry.Conn.Status.code(status) do
      informational when informational < 200 ->
        %{conn | req: :ferry_req.reply(informational, conn.resp_headers, body, conn.req)}

      code ->
        conn = prepare_response(%{conn | status: code})
        req = :ferry_req.reply(code, conn.resp_headers, body, conn.req)
        %{conn | req: req, state: :sent, resp_body: nil}
    end
  end

  def send_resp(%Conn{state: state}, _status, _body), do: misuse!("send_resp/3", state, nil)

  @doc """
  Reads the next part of the request body. `{:ok, data, conn}` when `data`
  ends the body, `{:more, data, conn}` when there is more to read. When the
  body arrived whole (`conn.body` is a binary) it is returned at once. Once
  the body was read to its end (by the route, or by `Ferry.Parsers`), more
  reads give `{:ok, "", conn}`, whatever its size, as in Plug.

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

  def send_file(%Conn{state: state} = conn, status, path, offset, length)
      when state in [:unset, :set] and is_integer(status) and status >= 200 and
             is_binary(path) and is_integer(offset) and offset >= 0 and
             (length == :all or (is_integer(length) and length >= 0)) do
    unsent!("send_file/5")
    conn = prepare_response(%{conn | status: status})
    req = :ferry_req.send_file(status, conn.resp_headers, {path, offset, length}, conn.req)
    %{conn | req: req, state: :sent, resp_body: nil}
  catch
    :error, {:ferry, :send_file, {_, reason}} ->
      raise File.Error, reason: reason, action: "send file", path: path
  end

  def send_file(%Conn{state: state}, status, path, offset, length) when state in [:unset, :set] do
    raise ArgumentError,
          "send_file needs a status 200..599, a path (binary), an offset >= 0 and a length " <>
            ">= 0 or :all, got: #{inspect({status, path, offset, length})}"
  end

  def send_file(%Conn{state: state}, _status, _path, _offset, _length),
    do: misuse!("send_file/5", state, nil)

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
  @spec stream_start(t(), Ferry.Conn.Status.t()) :: t()
  def stream_start(conn, status \\ 200)

  def stream_start(%Conn{state: state} = conn, status) when state in [:unset, :set] do
    unsent!("stream_start/2")

    conn = prepare_response(%{conn | status: Ferry.Conn.Status.code(status)})
    req = :ferry_req.stream_reply(conn.status, conn.resp_headers, conn.req)
    %{conn | req: req, state: :streaming}
  end

  def stream_start(%Conn{state: state}, _status), do: misuse!("stream_start/2", state, nil)

  @doc "Sends one part of a streamed response started by `stream_start/2`."
  @spec stream_chunk(t(), iodata()) :: t()
  def stream_chunk(%Conn{state: :streaming} = conn, data) do
    %{conn | req: :ferry_req.stream_body(data, :nofin, conn.req)}
  end

  def stream_chunk(%Conn{state: state}, _data), do: misuse!("stream_chunk/2", state, :chunked)

  @doc "Ends a streamed response started by `stream_start/2` or `sse_start/1`."
  @spec stream_end(t()) :: t()
  def stream_end(%Conn{state: state} = conn) when state in [:streaming, :sse] do
    %{conn | req: :ferry_req.stream_body("", :fin, conn.req), state: :sent}
  end

  def stream_end(%Conn{state: state}), do: misuse!("stream_end/1", state, :any)

  @doc """
  Starts a server-sent-events response: status 200, `content-type:
  text/event-stream`, `cache-control: no-cache`, and the headers set so far
  (which may replace those two). Send events with `send_event/2`; the stream
  ends when the route returns.

      conn = sse_start(conn)
      send_event(conn, %{event: "tick", data: "1"})
  """
  @spec sse_start(t()) :: t()
  def sse_start(%Conn{state: state} = conn) when state in [:unset, :set] do
    unsent!("sse_start/1")
    conn = prepare_response(%{conn | status: 200})

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

  def send_event(%Conn{state: state}, _event), do: misuse!("send_event/2", state, :sse)

  @upgrade_options [:compress, :hibernate, :hibernate_after, :protocol, :headers]

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
      trades CPU for memory on many quiet connections (about 3.7 KB a
      connection, Rust's share included, against 4.5–5 KB without, in the
      bench's 10,000 idle connections). Defaults to `false`.
    * `:hibernate_after` — hibernate the process once it has been idle
      this many milliseconds (like `GenServer`'s option of that name).
      Defaults to `:infinity`.
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
    unsent!("upgrade_websocket/4")
    conn = prepare_response(%{conn | status: 101})

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

    put_private(%{conn | state: :websocket}, :ferry_websocket, {handler, state, erl_opts})
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

  defp upgrade_option({:hibernate_after, value}, acc)
       when value == :infinity or (is_integer(value) and value >= 0),
       do: Map.put(acc, :hibernate_after, value)

  defp upgrade_option({:protocol, value}, acc) when is_binary(value),
    do: Map.put(acc, :protocol, value)

  defp upgrade_option({:headers, headers}, acc) when is_list(headers) do
    for header <- headers,
        not match?({name, value} when is_binary(name) and is_binary(value), header) do
      raise ArgumentError,
            "upgrade_websocket: a header is {name, value} binaries, got: #{inspect(header)}"
    end

    Map.put(acc, :headers, for({name, value} <- headers, do: {lowercase(name), value}))
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

  ## Plug's names: the functions below are Plug.Conn's, with its arguments
  ## and meaning (docs/PLUG.md lists what still differs).

  @doc """
  Puts `value` under `key` in `conn.assigns`, for the plugs and the route
  after this one.

      conn |> assign(:user, user) |> then(& &1.assigns.user)
  """
  @spec assign(t(), atom(), term()) :: t()
  def assign(%Conn{assigns: assigns} = conn, key, value) when is_atom(key),
    do: %{conn | assigns: Map.put(assigns, key, value)}

  @doc "Merges a keyword list or map into `conn.assigns`."
  @spec merge_assigns(t(), Enumerable.t()) :: t()
  def merge_assigns(%Conn{assigns: assigns} = conn, new),
    do: %{conn | assigns: Enum.into(new, assigns)}

  @doc "Puts `value` under `key` in `conn.private` (for libraries, as in Plug)."
  @spec put_private(t(), atom(), term()) :: t()
  def put_private(%Conn{private: private} = conn, key, value) when is_atom(key),
    do: %{conn | private: Map.put(private, key, value)}

  @doc """
  Stops a `plug` pipeline: no later plug and no route runs. The plug that
  halts answers first (`send_resp/3`); a halted conn that was not answered
  gets a 500, as Plug adapters give it.
  """
  @spec halt(t()) :: t()
  def halt(%Conn{} = conn), do: %{conn | halted: true}

  @doc """
  Sets the status of the response to come (`resp/3`, `send_resp/1`,
  `redirect/2` keep it). A code or a name: `put_status(conn, :not_found)`.
  """
  @spec put_status(t(), Ferry.Conn.Status.t()) :: t()
  def put_status(%Conn{state: state} = conn, status) when state in [:unset, :set],
    do: %{conn | status: Ferry.Conn.Status.code(status)}

  def put_status(%Conn{}, _status),
    do: raise(Ferry.AlreadySentError, "cannot set the status: the response was already sent")

  @doc """
  Sets the response without sending it (state `:set`): `send_resp/1` sends
  it, and so does returning the conn from a route.
  """
  @spec resp(t(), Ferry.Conn.Status.t(), iodata()) :: t()
  def resp(%Conn{state: state} = conn, status, body) when state in [:unset, :set],
    do: %{conn | status: Ferry.Conn.Status.code(status), resp_body: body, state: :set}

  def resp(%Conn{}, _status, _body),
    do: raise(Ferry.AlreadySentError, "the response was already sent")

  @doc "Sends the response set with `resp/3`."
  @spec send_resp(t()) :: t()
  def send_resp(%Conn{state: :set, status: status, resp_body: body} = conn),
    do: send_resp(conn, status, body)

  def send_resp(%Conn{state: :unset}),
    do: raise(ArgumentError, "send_resp/1 sends a response set with resp/3; none was set")

  def send_resp(%Conn{}), do: raise(Ferry.AlreadySentError, "the response was already sent")

  @doc """
  Sets `content-type`, with `; charset=utf-8` unless `charset` is given
  (`nil` for none).

      put_resp_content_type(conn, "application/json")
  """
  @spec put_resp_content_type(t(), binary(), binary() | nil) :: t()
  def put_resp_content_type(conn, content_type, charset \\ "utf-8")

  def put_resp_content_type(conn, content_type, nil) when is_binary(content_type),
    do: put_resp_header(conn, "content-type", content_type)

  def put_resp_content_type(conn, content_type, charset)
      when is_binary(content_type) and is_binary(charset),
      do: put_resp_header(conn, "content-type", "#{content_type}; charset=#{charset}")

  @doc """
  Starts a chunked response (`stream_start/2` by its Plug name); send the
  parts with `chunk/2`. The response ends when the route returns (or with
  `stream_end/1`).
  """
  @spec send_chunked(t(), Ferry.Conn.Status.t()) :: t()
  def send_chunked(%Conn{} = conn, status), do: stream_start(conn, status)

  @doc """
  Sends one part of a chunked response: `{:ok, conn}`, or `{:error,
  :closed}` once the client went away (then stop sending). Empty `data`
  sends nothing. Waits while the client reads slower than the route
  writes, so memory stays bounded.

      Enum.reduce_while(rows, conn, fn row, conn ->
        case chunk(conn, row) do
          {:ok, conn} -> {:cont, conn}
          {:error, :closed} -> {:halt, conn}
        end
      end)
  """
  @spec chunk(t(), iodata()) :: {:ok, t()} | {:error, :closed}
  def chunk(%Conn{state: :streaming} = conn, data) do
    {:ok, stream_chunk(conn, data)}
  catch
    :exit, {:ferry, :closed, _} -> {:error, :closed}
  end

  def chunk(%Conn{state: state}, _data), do: misuse!("chunk/2", state, :chunked)

  @doc "The values of response header `name`, as set so far."
  @spec get_resp_header(t(), binary()) :: [binary()]
  def get_resp_header(%Conn{resp_headers: headers}, name) when is_binary(name) do
    name = lowercase(name)
    for {^name, value} <- headers, do: value
  end

  @doc "Removes response header `name`."
  @spec delete_resp_header(t(), binary()) :: t()
  def delete_resp_header(%Conn{state: state, resp_headers: headers} = conn, name)
      when state in [:unset, :set] and is_binary(name),
      do: %{conn | resp_headers: List.keydelete(headers, lowercase(name), 0)}

  def delete_resp_header(%Conn{}, name) do
    raise Ferry.AlreadySentError,
          "cannot delete header #{inspect(name)}: the response was already sent"
  end

  @doc "`put_resp_header/3` for each `{name, value}` of `headers`."
  @spec merge_resp_headers(t(), Enumerable.t()) :: t()
  def merge_resp_headers(%Conn{} = conn, headers),
    do:
      Enum.reduce(headers, conn, fn {name, value}, conn -> put_resp_header(conn, name, value) end)

  @doc """
  Sets request header `name` (lowercase) to `value`, replacing earlier
  values: for plugs that rewrite the request (a test, a proxy header).
  """
  @spec put_req_header(t(), binary(), binary()) :: t()
  def put_req_header(%Conn{req_headers: headers} = conn, name, value)
      when is_binary(name) and is_binary(value) do
    name = lowercase(name)
    headers = for({key, _} = header <- headers, key != name, do: header) ++ [{name, value}]
    %{conn | req_headers: headers, headers: headers}
  end

  @doc "Removes request header `name`."
  @spec delete_req_header(t(), binary()) :: t()
  def delete_req_header(%Conn{req_headers: headers} = conn, name) when is_binary(name) do
    name = lowercase(name)
    headers = for {key, _} = header <- headers, key != name, do: header
    %{conn | req_headers: headers, headers: headers}
  end

  @doc """
  Plug's `fetch_query_params/2`: Ferry decodes the query string when the
  request comes in (a bad one is a 400 then), so this returns `conn`. It is
  here so that `plug :fetch_query_params` and calls to it work unchanged.
  """
  @spec fetch_query_params(t(), keyword()) :: t()
  def fetch_query_params(%Conn{} = conn, _opts \\ []), do: conn

  @doc """
  Reads the request's cookies into `conn.req_cookies` (name => value, the
  first of a name winning, as a client sends the most specific first) and
  `conn.cookies` (those, with the response cookies set so far over them).
  Malformed pairs are skipped, as browsers skip them; values are as sent
  (see `ferry_cookie:parse/1` in docs/ERLANG_API.md "Cookies").

      conn = fetch_cookies(conn)
      conn.cookies["session"]

  Signed and encrypted cookies (Plug's `:signed`, `:encrypted`) are not
  supported: Ferry has no `secret_key_base`.
  """
  @spec fetch_cookies(t(), keyword()) :: t()
  def fetch_cookies(conn, opts \\ [])

  def fetch_cookies(%Conn{req_cookies: %Unfetched{}} = conn, opts) when is_list(opts) do
    for {key, _} <- opts, key in [:signed, :encrypted] do
      raise ArgumentError,
            "fetch_cookies: #{inspect(key)} is not supported: Ferry has no secret_key_base"
    end

    req_cookies = Ferry.Conn.Cookies.decode(conn.req_headers)

    cookies =
      Enum.reduce(conn.resp_cookies, req_cookies, fn
        {name, %{max_age: 0}}, acc -> Map.delete(acc, name)
        {name, %{value: value}}, acc -> Map.put(acc, name, value)
      end)

    %{conn | req_cookies: req_cookies, cookies: cookies}
  end

  def fetch_cookies(%Conn{} = conn, _opts), do: conn

  @doc """
  Sets a cookie, sent as a `set-cookie` header with the response (a later
  one of the same `name` replaces it). Options, as Plug's:

    * `:max_age` — seconds; also writes the matching `Expires`. Without
      it the cookie lasts the browser session.
    * `:path` — defaults to `"/"` (the whole site); `nil` for none.
    * `:domain` — none by default (this host only).
    * `:http_only` — defaults to `true` (scripts cannot read it).
    * `:secure` — defaults to `false` (Ferry has no TLS; set it when a
      proxy in front terminates TLS).
    * `:same_site` — `"Strict"`, `"Lax"` or `"None"`; none by default.
    * `:extra` — more attributes, written as given (`"Partitioned"`).

  The defaults are the Erlang side's (`ferry_cookie:defaults/0`). The name
  must be a token and the value cookie-octets (RFC 6265 4.1.1: no spaces,
  quotes, commas, semicolons, backslashes): encode anything else first,
  with `Base.url_encode64/2` for instance. A bad name, value or option
  raises `ArgumentError` here, not when the response goes out.

      put_resp_cookie(conn, "session", token, max_age: 86_400, same_site: "Lax")
  """
  @spec put_resp_cookie(t(), binary(), binary(), keyword()) :: t()
  def put_resp_cookie(conn, name, value, opts \\ [])

  def put_resp_cookie(%Conn{state: state} = conn, name, value, opts)
      when state in [:unset, :set] do
    cookie = Ferry.Conn.Cookies.check!(name, value, opts)
    conn = %{conn | resp_cookies: Map.put(conn.resp_cookies, name, cookie)}

    case conn.cookies do
      %Unfetched{} -> conn
      cookies -> %{conn | cookies: Map.put(cookies, name, value)}
    end
  end

  def put_resp_cookie(%Conn{}, name, _value, _opts) do
    raise Ferry.AlreadySentError,
          "cannot set cookie #{inspect(name)}: the response was already sent"
  end

  @doc """
  Tells the client to drop cookie `name`: an empty value that expired at
  the epoch. Give the `:path` and `:domain` it was set with.
  """
  @spec delete_resp_cookie(t(), binary(), keyword()) :: t()
  def delete_resp_cookie(%Conn{} = conn, name, opts \\ []) do
    conn = put_resp_cookie(conn, name, "", Keyword.put(opts, :max_age, 0))

    case conn.cookies do
      %Unfetched{} -> conn
      cookies -> %{conn | cookies: Map.delete(cookies, name)}
    end
  end

  @doc """
  Registers `callback` to run on the conn just before the response goes
  out (`send_resp`, `send_chunked`, `sse_start`, a route's returned
  value, a WebSocket upgrade); the last registered runs first, as in Plug.
  """
  @spec register_before_send(t(), (t() -> t())) :: t()
  def register_before_send(%Conn{state: state, private: private} = conn, callback)
      when state in [:unset, :set] and is_function(callback, 1),
      do: put_private(conn, :before_send, [callback | Map.get(private, :before_send, [])])

  def register_before_send(%Conn{}, _callback),
    do: raise(Ferry.AlreadySentError, "the response was already sent")

  @doc """
  Sends a redirect, as Phoenix's `redirect/2`: `to:` a path of this site
  (it must start with one `/`, so that a user-given path cannot send the
  client elsewhere) or `external:` a URL; `status:` defaults to 302, or to
  the status set with `put_status/2`.

      redirect(conn, to: "/login")
      redirect(conn, external: "https://example.org/", status: 301)
  """
  @spec redirect(t(), keyword()) :: t()
  def redirect(%Conn{} = conn, opts) when is_list(opts) do
    url =
      case {Keyword.get(opts, :to), Keyword.get(opts, :external)} do
        {"/" <> rest = to, nil} when is_binary(to) ->
          if String.starts_with?(rest, ["/", "\\"]),
            do:
              raise(
                ArgumentError,
                "redirect to: #{inspect(to)} is not a path of this site; use external:"
              ),
            else: to

        {nil, external} when is_binary(external) ->
          external

        _ ->
          raise ArgumentError,
                "redirect takes to: \"/a/path\" or external: \"https://…\", got: #{inspect(opts)}"
      end

    if url =~ ~r/[\x00-\x1f\x7f]/ do
      raise ArgumentError, "redirect: #{inspect(url)} holds control characters"
    end

    status = Keyword.get(opts, :status, conn.status || 302)
    link = ["<a href=\"", html_escape(url), "\">redirected</a>"]

    conn
    |> put_resp_header("location", url)
    |> put_resp_content_type("text/html")
    |> send_resp(status, ["<html><body>You are being ", link, ".</body></html>"])
  end

  defp html_escape(text) do
    for <<c <- text>>, into: "" do
      case c do
        ?& -> "&amp;"
        ?< -> "&lt;"
        ?> -> "&gt;"
        ?" -> "&quot;"
        ?' -> "&#39;"
        c -> <<c>>
      end
    end
  end

  @doc "The URL of the request: `http://host[:port]/path[?query]`."
  @spec request_url(t()) :: binary()
  def request_url(%Conn{} = conn) do
    port = if conn.port == 80, do: "", else: ":#{conn.port}"
    query = if conn.query_string == "", do: "", else: "?" <> conn.query_string
    "#{conn.scheme}://#{conn.host}#{port}#{conn.request_path}#{query}"
  end

  # The conn says nothing was sent, but this process sent a response: the
  # route holds a copy of the conn from before it answered.
  defp unsent!(function) do
    unless :ferry_req.response_state() == :none do
      raise Ferry.AlreadySentError,
            "#{function}: the response was already sent; this conn is an older copy: " <>
              "use the conn that the call which answered returned"
    end
  end

  # A function called on a conn in the wrong state: what happened and
  # what to call instead, without the conn a FunctionClauseError dumps.
  @spec misuse!(binary(), state(), nil | :chunked | :sse | :any) :: no_return()
  defp misuse!(function, state, stream) do
    case {state, stream} do
      {:sent, nil} ->
        raise Ferry.AlreadySentError, "#{function}: the response was already sent"

      {:sent, _} ->
        raise Ferry.AlreadySentError,
              "#{function}: the stream was already ended with stream_end/1 " <>
                "(or the response was sent whole)"

      {:websocket, _} ->
        raise ArgumentError,
              "#{function}: this conn is upgraded to a WebSocket; its handler sends"

      {:sse, _} ->
        raise ArgumentError,
              "#{function}: this conn is a server-sent-events stream; send with send_event/2"

      {:streaming, _} ->
        raise ArgumentError,
              "#{function}: this conn is a chunked stream; send with stream_chunk/2 (chunk/2)"

      {_unset, :sse} ->
        raise ArgumentError, "#{function}: no stream was started; start one with sse_start/1"

      {_unset, _} ->
        raise ArgumentError,
              "#{function}: no stream was started; start one with stream_start/2 (send_chunked/2)"
    end
  end

  @doc false
  # Just before a response goes out: the before_send callbacks (once), then
  # the cookies as set-cookie headers.
  @spec prepare_response(t()) :: t()
  def prepare_response(%Conn{} = conn) do
    conn = run_before_send(conn)

    if map_size(conn.resp_cookies) == 0 do
      conn
    else
      %{conn | resp_headers: conn.resp_headers ++ Ferry.Conn.Cookies.headers(conn.resp_cookies)}
    end
  end

  defp run_before_send(%Conn{private: %{before_send: callbacks} = private} = conn),
    do: Enum.reduce(callbacks, %{conn | private: Map.delete(private, :before_send)}, & &1.(&2))

  defp run_before_send(conn), do: conn
end
