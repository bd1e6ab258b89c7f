defmodule Ferry.Router do
  @moduledoc """
  A routing DSL compiled to function clauses, in the manner of `Plug.Router`.

      defmodule MyApp.Router do
        use Ferry.Router

        get "/", do: "hello"

        get "/users/:id" do
          send_resp(conn, 200, "user \#{id}")
        end

        post "/echo" do
          {:ok, body, conn} = read_body(conn)
          send_resp(conn, 200, body)
        end

        forward "/api", to: MyApp.Api

        websocket "/ws/echo", MyApp.EchoSocket

        match _, do: {404, "nothing here"}
      end

  and in a supervision tree:

      {Ferry, name: MyApp.HTTP, port: 4000, router: MyApp.Router}

  ## Routes

  `get`, `post`, `put`, `patch` and `delete` take a path and a body; `get`
  also answers `HEAD` (Ferry sends no body for it). `match path` answers any
  method; `match _` answers any method and any path. Routes are tried in
  the order they are written.

  A request path is split on `/` (empty segments dropped) and each segment
  percent-decoded before matching, so `"/café"` matches `/caf%C3%A9`. A
  segment `:name` matches one segment and binds the variable `name` in the
  body; a last segment `*name`
  binds the remaining segments as a list. Both are also in `conn.params`,
  with the query parameters.

  Inside a body, `conn` is the `Ferry.Conn` of the request and the
  functions of `Ferry.Conn` are imported. The body returns one of:

    * a conn that was answered (`send_resp/3`, a stream or SSE; a stream
      still open is ended for it) or upgraded (`upgrade_websocket/4`),
    * a binary — sent as `200` with `content-type: text/plain`,
    * `{status, body}` or `{status, headers, body}`.

  `forward "/api", to: Other` hands every request under `/api` to the
  router `Other`, which sees the rest of the path in `conn.path_info`.

  `static "/assets", from: "priv/static"` serves the files of a directory
  under `/assets` (`GET` and `HEAD`), with content types, validators,
  ranges and precompressed siblings; see `Ferry.Static` for its options.

  ## WebSocket

  `websocket "/ws/echo", MyApp.EchoSocket, state, opts` upgrades `GET`
  requests to `path` to a WebSocket run by `MyApp.EchoSocket`, a
  `Ferry.WebSock` handler, whose `init/1` gets `state` (default `[]`);
  `opts` are those of `Ferry.Conn.upgrade_websocket/4`. `state` and `opts`
  are evaluated for each request, with the path's `:name` variables and
  `conn` bound:

      websocket "/ws/rooms/:room", MyApp.RoomSocket, %{room: room}, compress: true

  A route that decides first (authentication, a room that must exist)
  calls `upgrade_websocket/4` itself and returns the conn.

  A path no route matches gets `404`; a path that matches only for other
  methods gets `405` with an `allow` header. A route that raises gets `500`,
  and the exception is logged with the router and the route.

  `use Ferry.Router` defines `handle/1`, the callback of the Erlang
  handler behaviour `:ferry_handler` (`docs/ERLANG_API.md`), and `call/1`,
  which routes a `Ferry.Conn`.
  """

  alias Ferry.Router.Compiler

  @doc false
  defmacro __using__(_opts) do
    quote do
      import Ferry.Router,
        only: [
          get: 2,
          post: 2,
          put: 2,
          patch: 2,
          delete: 2,
          match: 2,
          forward: 2,
          static: 2,
          websocket: 2,
          websocket: 3,
          websocket: 4
        ]

      import Ferry.Conn,
        only: [
          get_req_header: 2,
          put_resp_header: 3,
          send_resp: 3,
          send_file: 3,
          send_file: 4,
          send_file: 5,
          read_body: 1,
          read_body: 2,
          read_full_body: 2,
          read_body_to_file: 1,
          read_body_to_file: 2,
          stream_start: 1,
          stream_start: 2,
          stream_chunk: 2,
          stream_end: 1,
          sse_start: 1,
          send_event: 2,
          upgrade_websocket: 3,
          upgrade_websocket: 4
        ]

      Module.register_attribute(__MODULE__, :ferry_routes, accumulate: true)
      @before_compile Ferry.Router
      @behaviour :ferry_handler

      @doc "Handles one request of the Erlang API (the `:ferry_handler` behaviour)."
      @impl :ferry_handler
      @spec handle(map()) ::
              {100..599, [{binary(), iodata()}], iodata()}
              | {:done, map()}
              | {:websocket, module(), term(), map()}
      def handle(req), do: Ferry.Router.Dispatch.handle(__MODULE__, req)

      @doc "Routes `conn` and returns what the route returned."
      @spec call(Ferry.Conn.t()) :: Ferry.Router.result()
      def call(conn), do: Ferry.Router.Dispatch.call(__MODULE__, conn)
    end
  end

  @typedoc "What a route may return."
  @type result ::
          Ferry.Conn.t()
          | binary()
          | {100..599, iodata()}
          | {100..599, [{binary(), iodata()}], iodata()}

  @doc false
  defmacro __before_compile__(env) do
    routes = env.module |> Module.get_attribute(:ferry_routes) |> Enum.reverse()
    Compiler.finish(routes)
  end

  @doc "A route for `GET` (and `HEAD`) requests to `path`."
  defmacro get(path, contents), do: Compiler.route(["GET", "HEAD"], path, contents, __CALLER__)

  @doc "A route for `POST` requests to `path`."
  defmacro post(path, contents), do: Compiler.route(["POST"], path, contents, __CALLER__)

  @doc "A route for `PUT` requests to `path`."
  defmacro put(path, contents), do: Compiler.route(["PUT"], path, contents, __CALLER__)

  @doc "A route for `PATCH` requests to `path`."
  defmacro patch(path, contents), do: Compiler.route(["PATCH"], path, contents, __CALLER__)

  @doc "A route for `DELETE` requests to `path`."
  defmacro delete(path, contents), do: Compiler.route(["DELETE"], path, contents, __CALLER__)

  @doc "A route for any method to `path`; `match _` matches any path too."
  defmacro match(path, contents), do: Compiler.route(:any, path, contents, __CALLER__)

  @doc """
  A WebSocket at `path`: `GET` requests to it are upgraded with
  `Ferry.Conn.upgrade_websocket(conn, handler, state, opts)`. `state` and
  `opts` may use the path's `:name` variables and `conn`. See "WebSocket"
  in the module doc.
  """
  defmacro websocket(path, handler, state \\ [], opts \\ []) do
    body =
      quote do
        Ferry.Conn.upgrade_websocket(
          var!(conn),
          unquote(handler),
          unquote(state),
          unquote(opts)
        )
      end

    Compiler.route(["GET"], path, [do: body], __CALLER__)
  end

  @doc "Hands every request under `prefix` to the router in `to:`."
  defmacro forward(prefix, opts), do: Compiler.forward(prefix, opts, __CALLER__)

  @doc """
  Serves the files of the directory `from:` under `prefix` (`GET` and
  `HEAD`): `static "/assets", from: "priv/static"`. See `Ferry.Static`.
  """
  defmacro static(prefix, opts), do: Compiler.static(prefix, opts, __CALLER__)
end
