defmodule Ferry.Router do
  @moduledoc """
  A routing DSL compiled to function clauses, in the manner of `Plug.Router`,
  with Plug's pipelines of plugs.

      defmodule MyApp.Router do
        use Ferry.Router

        plug :fetch_cookies
        plug MyApp.Auth, realm: "app"
        plug Ferry.Parsers, parsers: [:urlencoded, :json], length: 1_000_000

        get "/", do: "hello"

        get "/users/:id" do
          send_resp(conn, 200, "user \#{id}")
        end

        post "/echo" do
          {:ok, body, conn} = read_body(conn)
          send_resp(conn, 200, body)
        end

        match "/form", via: [:get, :post], do: MyApp.Form.run(conn)
        get "/health", to: MyApp.Health, init_opts: [checks: [:db]]

        forward "/api", to: MyApp.Api

        websocket "/ws/echo", MyApp.EchoSocket

        match _, do: {404, "nothing here"}
      end

  and in a supervision tree:

      {Ferry, name: MyApp.HTTP, port: 4000, router: MyApp.Router}

  Coming from Plug? docs/PLUG.md has a Plug router and the same router
  for Ferry side by side, and what still differs.

  ## Routes

  `get`, `post`, `put`, `patch`, `delete`, `head` and `options` take a
  path and a body; `get` also answers `HEAD` (Ferry sends no body for it)
  unless a `head` route for the path comes first. `match path` answers any
  method, or those in `via:` (`match "/x", via: [:get, :post]`); `match _`
  answers any method and any path. Routes are tried in the order they are
  written.

  Instead of a body, `to: MyPlug` runs a module plug (`init/1` + `call/2`;
  `init_opts:` are given to `init/1` once, at compile time). `assigns:`
  and `private:` maps are merged into the conn before the body runs.

  A request path is split on `/` (empty segments dropped) and each segment
  percent-decoded before matching, so `"/café"` matches `/caf%C3%A9`; a
  bad `%` escape is 400 (the rules are the Erlang side's,
  docs/ERLANG_API.md "Paths and query strings"). A
  segment `:name` matches one segment and binds the variable `name` in the
  body; a last segment `*name`
  binds the remaining segments as a list. Both are also in
  `conn.path_params` and `conn.params`.

  Inside a body, `conn` is the `Ferry.Conn` of the request and the
  functions of `Ferry.Conn` are imported, as `Plug.Router` imports
  `Plug.Conn`. The body returns one of:

    * a conn that was answered (`send_resp/3`, `send_chunked/2`, SSE; a
      stream still open is ended for it), set (`resp/3`: it is sent) or
      upgraded (`upgrade_websocket/4`),
    * a binary — sent as `200` with `content-type: text/plain`,
    * `{status, body}` or `{status, headers, body}` (`status` a code or a
      name such as `:created`, `headers` a list or a map); the headers and
      cookies the plugs set are sent too.

  `forward "/api", to: Other` hands every request under `/api` to `Other`,
  a router or any module plug, which sees the rest of the path in
  `conn.path_info`.

  ## Plugs

  `plug` adds a plug to the router's pipeline, run on every request in the
  order written, before the route: a module with `init/1` and `call/2`
  (`init/1` runs once, at compile time, with the options given), or the
  name of a function `name(conn, opts)` of the router or of `Ferry.Conn`
  (`plug :fetch_cookies`). A plug returns the conn; one that `halt/1`s it
  ends the pipeline there, having answered (a halted conn nobody answered
  gets 500). `plug :match` and `plug :dispatch`, as in `Plug.Router`, say
  where the route is found (its path parameters are in the conn from then
  on) and where it runs; `:dispatch` comes last. A router that names
  neither routes after its last plug.

  `Ferry.Parsers` reads urlencoded and JSON bodies into `conn.body_params`
  and `conn.params`, with a size limit (413 past it).

  An exception with a `plug_status` in 400..499 (as Plug's errors have)
  answers that status with its message, and is not logged as an error: a
  query string that is not one (`Ferry.Conn.InvalidQueryError`, 400), a
  body over the parser's `:length` (413).

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
  methods gets `405` with an `allow` header. A route or a plug that raises
  gets `500`, and the exception is logged with the router and the route.

  `use Ferry.Router` defines `handle/1`, the callback of the Erlang
  handler behaviour `:ferry_handler` (`docs/ERLANG_API.md`), and the Plug
  contract `init/1` and `call/2` (overridable), with `call/1` as
  `call(conn, init([]))`.
  """

  alias Ferry.Router.Compiler
  alias Ferry.Router.Pipeline

  @doc false
  defmacro __using__(_opts) do
    quote do
      import Ferry.Router,
        only: [
          get: 2,
          get: 3,
          post: 2,
          post: 3,
          put: 2,
          put: 3,
          patch: 2,
          patch: 3,
          delete: 2,
          delete: 3,
          head: 2,
          head: 3,
          options: 2,
          options: 3,
          match: 2,
          match: 3,
          forward: 2,
          static: 2,
          plug: 1,
          plug: 2,
          websocket: 2,
          websocket: 3,
          websocket: 4
        ]

      # As Plug.Router imports Plug.Conn: every function a route or a
      # function plug may call.
      import Ferry.Conn,
        except: [from_req: 1, put_path_params: 2, merge_params: 1, prepare_response: 1]

      Module.register_attribute(__MODULE__, :ferry_routes, accumulate: true)
      Module.register_attribute(__MODULE__, :ferry_plugs, accumulate: true)
      @before_compile Ferry.Router
      @behaviour :ferry_handler

      @doc "Handles one request of the Erlang API (the `:ferry_handler` behaviour)."
      @impl :ferry_handler
      @spec handle(map()) ::
              {100..599, [{binary(), iodata()}], iodata()}
              | {:done, map()}
              | {:websocket, module(), term(), map()}
      def handle(req), do: Ferry.Router.Dispatch.handle(__MODULE__, req)

      @doc "The Plug contract: the options `call/2` gets (`opts` as given)."
      @spec init(term()) :: term()
      def init(opts), do: opts

      @doc """
      The Plug contract: runs the plugs, then the route of `conn`, and
      returns the conn with the route's answer (sent, or set to be sent).
      """
      @spec call(Ferry.Conn.t(), term()) :: Ferry.Conn.t() | term()
      def call(conn, _opts), do: __ferry_pipeline__(conn)

      @doc "`call(conn, init([]))`."
      @spec call(Ferry.Conn.t()) :: Ferry.Conn.t() | term()
      def call(conn), do: call(conn, init([]))

      defoverridable init: 1, call: 2
    end
  end

  @typedoc "What a route may return."
  @type result ::
          Ferry.Conn.t()
          | binary()
          | {Ferry.Conn.Status.t(), iodata()}
          | {Ferry.Conn.Status.t(), [{binary(), iodata()}] | %{binary() => iodata()}, iodata()}

  @doc false
  defmacro __before_compile__(env) do
    routes = env.module |> Module.get_attribute(:ferry_routes) |> Enum.reverse()
    plugs = env.module |> Module.get_attribute(:ferry_plugs) |> Enum.reverse()
    [Compiler.finish(routes), Pipeline.compile(env, plugs)]
  end

  @doc """
  A plug of the router's pipeline, run on every request in the order
  written, before the route (see "Plugs" in the module doc): a module with
  `init/1` and `call/2`, initialised once at compile time with `opts`, or
  the name of a function `name(conn, opts)` of the router (or of
  `Ferry.Conn`, such as `:fetch_cookies`). `:match` and `:dispatch` mark
  where routing happens.
  """
  defmacro plug(plug, opts \\ []), do: Pipeline.plug(plug, opts, __CALLER__)

  @doc """
  A route for `GET` (and `HEAD`) requests to `path`. `options`: the body
  (`do:`), or a module plug to run (`to: MyPlug`, with `init_opts:`), and
  `assigns:` or `private:` to merge into the conn first.
  """
  defmacro get(path, options, contents \\ []),
    do: Compiler.route(["GET", "HEAD"], path, options ++ contents, __CALLER__)

  @doc "A route for `POST` requests to `path`; `options` as for `get/3`."
  defmacro post(path, options, contents \\ []),
    do: Compiler.route(["POST"], path, options ++ contents, __CALLER__)

  @doc "A route for `PUT` requests to `path`; `options` as for `get/3`."
  defmacro put(path, options, contents \\ []),
    do: Compiler.route(["PUT"], path, options ++ contents, __CALLER__)

  @doc "A route for `PATCH` requests to `path`; `options` as for `get/3`."
  defmacro patch(path, options, contents \\ []),
    do: Compiler.route(["PATCH"], path, options ++ contents, __CALLER__)

  @doc "A route for `DELETE` requests to `path`; `options` as for `get/3`."
  defmacro delete(path, options, contents \\ []),
    do: Compiler.route(["DELETE"], path, options ++ contents, __CALLER__)

  @doc """
  A route for `HEAD` requests to `path`; `options` as for `get/3`. A `get`
  route answers HEAD too: a `head` route written before it answers them
  instead.
  """
  defmacro head(path, options, contents \\ []),
    do: Compiler.route(["HEAD"], path, options ++ contents, __CALLER__)

  @doc "A route for `OPTIONS` requests to `path`; `options` as for `get/3`."
  defmacro options(path, options, contents \\ []),
    do: Compiler.route(["OPTIONS"], path, options ++ contents, __CALLER__)

  @doc """
  A route for any method to `path`, or for the methods in `via:`
  (`match "/x", via: [:get, :post]`); `match _` matches any path too.
  Other `options` as for `get/3`.
  """
  defmacro match(path, options, contents \\ []) do
    {via, options} = Keyword.pop(options ++ contents, :via)
    methods = if via == nil, do: :any, else: Compiler.via(via, __CALLER__)
    Compiler.route(methods, path, options, __CALLER__)
  end

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

  @doc """
  Hands every request under `prefix` to `to:`, a router or any module plug
  (`init_opts:` are given to its `init/1`), which sees the rest of the path
  in `conn.path_info` and the prefix in `conn.script_name`.
  """
  defmacro forward(prefix, opts), do: Compiler.forward(prefix, opts, __CALLER__)

  @doc """
  Serves the files of the directory `from:` under `prefix` (`GET` and
  `HEAD`): `static "/assets", from: "priv/static"`. See `Ferry.Static`.
  """
  defmacro static(prefix, opts), do: Compiler.static(prefix, opts, __CALLER__)
end
