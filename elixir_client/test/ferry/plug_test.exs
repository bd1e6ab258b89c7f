defmodule Ferry.PlugTest do
  # A router written the Plug way (pipelines of function and module plugs,
  # halt, assigns, match via:, to: Mod, cookies, JSON and urlencoded bodies
  # and their limits) through a real listener: every Plug-named field,
  # function and macro of Ferry.Conn and Ferry.Router, over real sockets.
  use ExUnit.Case, async: false
  import ExUnit.CaptureLog
  import FerryTest.HTTP, only: [raw: 2, raw: 3, dechunk: 1]

  defmodule RequireKey do
    # A module plug: init/1 runs once, at compile time; call/2 may halt.
    def init(opts), do: Keyword.fetch!(opts, :header)

    def call(conn, header) do
      case Ferry.Conn.get_req_header(conn, header) do
        ["let-me-in"] ->
          Ferry.Conn.assign(conn, :key_ok, true)

        _ ->
          conn
          |> Ferry.Conn.put_resp_content_type("text/plain")
          |> Ferry.Conn.send_resp(:unauthorized, "no key in #{header}")
          |> Ferry.Conn.halt()
      end
    end
  end

  defmodule Hello do
    # What `to:` runs: a module plug whose init gets init_opts.
    import Ferry.Conn
    def init(opts), do: Keyword.put(opts, :initialised, true)

    def call(conn, opts),
      do: send_resp(conn, 200, "hello from a module plug #{inspect(Enum.sort(opts))}")
  end

  defmodule Teapot do
    defexception message: "short and stout", plug_status: 418
  end

  defmodule Api do
    use Ferry.Router

    plug :tag_api

    get "/echo",
      do:
        "api #{Enum.join(conn.script_name, "/")} #{conn.assigns[:api]} #{inspect(conn.private[:forwarded])}"

    def tag_api(conn, _opts), do: assign(conn, :api, "tagged")
  end

  defmodule Router do
    use Ferry.Router

    plug :request_id, prefix: "req-"
    plug :fetch_query_params
    plug :fetch_cookies
    plug RequireKey, header: "x-key"
    plug :match
    plug :route_seen
    plug Ferry.Parsers, parsers: [:urlencoded, :json], pass: ["text/*"], length: 1_000
    plug :dispatch

    get "/fields" do
      %{
        request_path: conn.request_path,
        query_string: conn.query_string,
        remote_ip: :inet.ntoa(conn.remote_ip) |> to_string(),
        host: conn.host,
        port: conn.port,
        scheme: conn.scheme,
        x: get_req_header(conn, "x-many"),
        assigns: conn.assigns |> Map.take([:key_ok, :request_id, :seen]) |> Enum.sort(),
        halted: conn.halted,
        url: request_url(conn),
        aliases: [
          conn.path == conn.request_path,
          conn.query == conn.query_string,
          conn.headers == conn.req_headers,
          conn.peer |> elem(0) == conn.remote_ip
        ]
      }
      |> inspect()
    end

    get "/params/:id" do
      inspect({conn.params, conn.path_params, conn.query_params, conn.body_params},
        custom_options: [sort_maps: true]
      )
    end

    post "/params/:id" do
      inspect({conn.params, conn.body_params}, custom_options: [sort_maps: true])
    end

    get "/status/atom",
      do: conn |> put_status(:created) |> then(&send_resp(&1, &1.status, "made"))

    get "/status/send", do: send_resp(conn, :accepted, "accepted")

    get "/resp" do
      conn |> resp(203, "set, then sent") |> put_resp_header("x-late", "ok") |> send_resp()
    end

    get "/resp/returned", do: resp(conn, :ok, "set and returned")

    get "/content-type/:kind" do
      case kind do
        "json" -> put_resp_content_type(conn, "application/json")
        "bare" -> put_resp_content_type(conn, "text/csv", nil)
        "latin" -> put_resp_content_type(conn, "text/plain", "iso-8859-1")
      end
      |> send_resp(200, "x")
    end

    get "/chunked" do
      conn = send_chunked(conn, 200)
      {:ok, conn} = chunk(conn, "one ")
      {:ok, conn} = chunk(conn, "")
      {:ok, conn} = chunk(conn, ["two", ?\s, "three"])
      conn
    end

    get "/chunk-without-send-chunked", do: chunk(conn, "x")

    get "/chunk-forever" do
      send(Ferry.PlugTest.Waiter, {:chunking, self()})
      conn = send_chunked(conn, 200)

      Stream.iterate(1, &(&1 + 1))
      |> Enum.reduce_while(conn, fn i, conn ->
        case chunk(conn, String.duplicate("x", 10_000) <> "#{i}") do
          {:ok, conn} ->
            {:cont, conn}

          {:error, :closed} ->
            send(Ferry.PlugTest.Waiter, {:closed_seen, i})
            {:halt, conn}
        end
      end)
    end

    get "/headers" do
      conn
      |> put_req_header("x-added", "1")
      |> delete_req_header("x-gone")
      |> then(fn conn ->
        conn
        |> merge_resp_headers([{"x-a", "1"}, {"x-b", "2"}])
        |> put_resp_header(
          "x-seen",
          inspect({get_req_header(conn, "x-added"), get_req_header(conn, "x-gone")})
        )
      end)
      |> delete_resp_header("x-b")
      |> then(&put_resp_header(&1, "x-got", inspect(get_resp_header(&1, "x-a"))))
      |> send_resp(200, "headers")
    end

    get "/cookies" do
      conn
      |> put_resp_cookie("plain", "1")
      |> put_resp_cookie("full", "v2",
        max_age: 60,
        path: "/app",
        domain: "example.org",
        secure: true,
        http_only: false,
        same_site: "Strict",
        extra: "Partitioned"
      )
      |> put_resp_cookie("nopath", "3", path: nil, same_site: "Lax")
      |> delete_resp_cookie("old")
      |> then(
        &send_resp(
          &1,
          200,
          inspect({&1.req_cookies, &1.cookies}, custom_options: [sort_maps: true])
        )
      )
    end

    get "/cookies/bad", do: put_resp_cookie(conn, "a", "has space")

    get "/before-send" do
      conn
      |> register_before_send(
        &put_resp_header(
          &1,
          "x-order",
          get_resp_header(&1, "x-order") |> Enum.join() |> Kernel.<>("first-registered")
        )
      )
      |> register_before_send(&put_resp_header(&1, "x-order", "last-registered,"))
      |> send_resp(200, "sent")
    end

    get "/redirect/:how" do
      case how do
        "to" -> redirect(conn, to: "/fields?x=<1>")
        "external" -> redirect(conn, external: "https://example.org/", status: 301)
        "status" -> conn |> put_status(303) |> redirect(to: "/")
        "evil" -> redirect(conn, to: "//evil.example/")
      end
    end

    get "/tuple", do: {:created, %{"x-map" => "yes"}, "from a tuple with a header map"}
    get "/plug-headers-kept", do: "plain text"
    get "/raise-status", do: raise(Ferry.PlugTest.Teapot)

    match "/via", via: [:get, :post], do: "via #{conn.method}"
    match "/via-one", via: "put", do: "via one #{conn.method}"
    get "/to", to: Ferry.PlugTest.Hello, init_opts: [greeting: "hi"]
    head("/head", do: conn |> put_resp_header("x-head", "yes") |> send_resp(200, ""))
    get "/head", do: "the GET body"
    options("/opts", do: {204, [{"allow", "GET, OPTIONS"}], ""})

    get "/assigned", assigns: %{role: :admin}, private: %{tag: 1} do
      "#{conn.assigns.role} #{conn.private.tag}"
    end

    forward "/api", to: Ferry.PlugTest.Api, init_opts: []

    match _, do: send_resp(conn, 404, "no #{conn.method} #{conn.request_path} here")

    def request_id(conn, opts),
      do: assign(conn, :request_id, opts[:prefix] <> hd(get_req_header(conn, "x-id") ++ ["none"]))

    # Between :match and :dispatch: the route is known, its params bound.
    def route_seen(conn, _opts), do: assign(conn, :seen, conn.path_params["id"] || "-")
  end

  defmodule Implicit do
    # No :match / :dispatch: routing comes after the last plug.
    use Ferry.Router

    plug :first
    plug :maybe_halt
    plug Ferry.Parsers, parsers: [:json], json_decoder: Ferry.JSON

    get "/", do: "#{conn.assigns.first} #{conn.halted}"
    post "/json", do: inspect(conn.body_params, custom_options: [sort_maps: true])
    match "/via", via: [:get, :post], do: "via #{conn.method}"

    def first(conn, _opts), do: assign(conn, :first, "ran")

    def maybe_halt(conn, _opts) do
      if conn.query_params["halt"] == "yes",
        do: conn |> send_resp(403, "halted by a plug") |> halt(),
        else: conn
    end
  end

  defmodule BadPlug do
    use Ferry.Router

    plug :not_a_conn
    get "/", do: "never"

    def not_a_conn(_conn, _opts), do: :oops
  end

  setup_all do
    start_supervised!(
      {Ferry,
       name: Ferry.PlugTest.HTTP, port: 0, ip: {127, 0, 0, 1}, router: Router, inline_body: 256},
      id: :router
    )

    start_supervised!(
      {Ferry, name: Ferry.PlugTest.Implicit, port: 0, ip: {127, 0, 0, 1}, router: Implicit},
      id: :implicit
    )

    start_supervised!(
      {Ferry, name: Ferry.PlugTest.Bad, port: 0, ip: {127, 0, 0, 1}, router: BadPlug},
      id: :bad
    )

    %{
      port: Ferry.port_number(Ferry.PlugTest.HTTP),
      implicit: Ferry.port_number(Ferry.PlugTest.Implicit),
      bad: Ferry.port_number(Ferry.PlugTest.Bad)
    }
  end

  @key [{"x-key", "let-me-in"}]

  # :httpc, with the response headers as a list (set-cookie repeats) and no
  # redirects followed.
  defp http(method, port, path, headers \\ @key, body \\ nil, type \\ "text/plain") do
    url = String.to_charlist("http://127.0.0.1:#{port}#{path}")
    headers = for {k, v} <- headers, do: {String.to_charlist(k), String.to_charlist(v)}

    request =
      if body == nil,
        do: {url, headers},
        else: {url, headers, String.to_charlist(type), body}

    {:ok, {{_, status, _}, resp_headers, resp_body}} =
      :httpc.request(method, request, [timeout: 30_000, autoredirect: false], body_format: :binary)

    {status, for({k, v} <- resp_headers, do: {List.to_string(k), List.to_string(v)}), resp_body}
  end

  defp header(headers, name), do: for({^name, value} <- headers, do: value)

  test "the Plug request fields, and Ferry's earlier names as aliases", %{port: port} do
    headers =
      @key ++ [{"x-many", "1"}, {"x-many", "2"}, {"x-id", "7"}, {"host", "Example.ORG:8080"}]

    {200, _, body} = http(:get, port, "/fields?a=1", headers)
    {fields, []} = Code.eval_string(body)

    assert fields == %{
             request_path: "/fields",
             query_string: "a=1",
             remote_ip: "127.0.0.1",
             host: "example.org",
             port: 8080,
             scheme: :http,
             x: ["1", "2"],
             assigns: [key_ok: true, request_id: "req-7", seen: "-"],
             halted: false,
             url: "http://example.org:8080/fields?a=1",
             aliases: [true, true, true, true]
           }
  end

  test "host and port from the host header, as Plug and Cowboy read it", %{port: port} do
    cases = [
      {"Example.ORG", {"example.org", 80}},
      {"example.org:8080", {"example.org", 8080}},
      {"[::1]:4000", {"[::1]", 4000}},
      {"[::1]", {"[::1]", 80}},
      {"[Fe80::1]:1", {"[fe80::1]", 1}},
      # Not a host and a port: the value as it came, and the default port.
      {"example.org:", {"example.org:", 80}},
      {"example.org:123456", {"example.org:123456", 80}},
      {"a:b", {"a:b", 80}},
      {"[::1]x", {"[::1]x", 80}}
    ]

    for {value, expected} <- cases do
      {200, _, body} = http(:get, port, "/fields", @key ++ [{"host", value}])
      {fields, []} = Code.eval_string(body)
      assert {fields.host, fields.port} == expected, "host: #{value}"
    end
  end

  test "Ferry.Conn is a map of at most 32 keys" do
    # Above 32 keys the VM keeps a map as a hash trie, where every read and
    # update of a field hashes: a conn is read and updated many times a
    # request. before_send and a WebSocket upgrade live in `private` (as
    # Plug keeps before_send), which brought 34 keys down to 32.
    assert map_size(%Ferry.Conn{}) <= 32
  end

  test "a module plug halts the pipeline: no later plug, no route", %{port: port} do
    assert {401, headers, "no key in x-key"} = http(:get, port, "/fields", [])
    assert header(headers, "content-type") == ["text/plain; charset=utf-8"]
  end

  test "params: the query nests, the path wins, body_params unfetched for GET until the parser",
       %{port: port} do
    {200, _, body} = http(:get, port, "/params/9?id=query&a%5Bb%5D=1&l%5B%5D=x&l%5B%5D=y")
    {{params, path, query, body_params}, []} = Code.eval_string(body)
    assert path == %{"id" => "9"}
    assert query == %{"id" => "query", "a" => %{"b" => "1"}, "l" => ["x", "y"]}
    assert params == %{"id" => "9", "a" => %{"b" => "1"}, "l" => ["x", "y"]}
    # A GET body is not read (Plug reads POST, PUT, PATCH and DELETE).
    assert body_params == %{}
  end

  test "a urlencoded body: params merge query, body and path, the later winning", %{port: port} do
    {200, _, body} =
      http(
        :post,
        port,
        "/params/9?q=1&b=query",
        @key,
        "b=body&id=body&n[k]=v&x=a+b%21",
        "application/x-www-form-urlencoded"
      )

    {{params, body_params}, []} = Code.eval_string(body)
    assert body_params == %{"b" => "body", "id" => "body", "n" => %{"k" => "v"}, "x" => "a b!"}

    assert params == %{
             "q" => "1",
             "b" => "body",
             "id" => "9",
             "n" => %{"k" => "v"},
             "x" => "a b!"
           }
  end

  test "a JSON body; one that is not an object is under _json", %{port: port} do
    {200, _, body} =
      http(:post, port, "/params/1", @key, ~s({"a": [1, {"b": null}]}), "application/json")

    assert {{_, %{"a" => [1, %{"b" => nil}]}}, []} = Code.eval_string(body)

    {200, _, body} =
      http(:post, port, "/params/1", @key, "[1, 2]", "application/vnd.api+json; charset=utf-8")

    assert {{%{"_json" => [1, 2], "id" => "1"}, %{"_json" => [1, 2]}}, []} =
             Code.eval_string(body)

    {200, _, body} = http(:post, port, "/params/1", @key, "", "application/json")
    assert {{_, %{}}, []} = Code.eval_string(body)
  end

  test "bad bodies are the client's 400 or 415, and not logged as errors", %{port: port} do
    log =
      capture_log(fn ->
        assert {400, _, "malformed JSON body: " <> _} =
                 http(:post, port, "/params/1", @key, ~s({"a": 1,}), "application/json")

        assert {400, _, "malformed urlencoded body: " <> _} =
                 http(
                   :post,
                   port,
                   "/params/1",
                   @key,
                   "a=%zz",
                   "application/x-www-form-urlencoded"
                 )

        assert {415, _, "no parser takes content-type image/png" <> _} =
                 http(:post, port, "/params/1", @key, "png", "image/png")
      end)

    refute log =~ "[error]"
  end

  test "a type in :pass goes through unread", %{port: port} do
    {200, _, body} = http(:post, port, "/params/1", @key, "just text", "text/plain")
    assert {{%{"id" => "1"}, %{}}, []} = Code.eval_string(body)
  end

  test "a body over the parsers' :length is 413, inline or streamed", %{port: port} do
    # 1000 bytes pass, 1001 do not (the listener's inline_body is 256, so
    # both are streamed bodies; a short one comes inline).
    ok = "a=" <> String.duplicate("x", 998)

    assert {200, _, _} =
             http(:post, port, "/params/1", @key, ok, "application/x-www-form-urlencoded")

    too_large = ok <> "x"

    request =
      "POST /params/1 HTTP/1.1\r\nhost: x\r\nx-key: let-me-in\r\n" <>
        "content-type: application/x-www-form-urlencoded\r\ncontent-length: 1001\r\n\r\n" <>
        too_large

    {head, body} = raw(port, request, &String.contains?(&1, "bytes the parser reads"))
    assert head =~ ~r"^HTTP/1.1 413 "
    assert body =~ "is over the 1000 bytes the parser reads"

    inline = ~s({"k": ") <> String.duplicate("y", 200) <> ~s("})
    assert {200, _, _} = http(:post, port, "/params/1", @key, inline, "application/json")
  end

  test "put_status/2 and send_resp/3 take names", %{port: port} do
    assert {201, _, "made"} = http(:get, port, "/status/atom")
    assert {202, _, "accepted"} = http(:get, port, "/status/send")
  end

  test "resp/3 then send_resp/1; a set response returned from a route is sent", %{port: port} do
    assert {203, headers, "set, then sent"} = http(:get, port, "/resp")
    assert header(headers, "x-late") == ["ok"]
    assert {200, _, "set and returned"} = http(:get, port, "/resp/returned")
  end

  test "put_resp_content_type/3", %{port: port} do
    assert {200, h1, _} = http(:get, port, "/content-type/json")
    assert header(h1, "content-type") == ["application/json; charset=utf-8"]
    assert {200, h2, _} = http(:get, port, "/content-type/bare")
    assert header(h2, "content-type") == ["text/csv"]
    assert {200, h3, _} = http(:get, port, "/content-type/latin")
    assert header(h3, "content-type") == ["text/plain; charset=iso-8859-1"]
  end

  test "send_chunked/2 and chunk/2; an empty chunk sends nothing", %{port: port} do
    {head, body} = raw(port, "GET /chunked HTTP/1.1\r\nhost: x\r\nx-key: let-me-in\r\n\r\n")
    assert head =~ ~r"^HTTP/1.1 200 "
    assert head =~ ~r"transfer-encoding: chunked"i
    assert dechunk(body) == "one two three"
  end

  test "chunk/2 says {:error, :closed} once the client went away", %{port: port} do
    Process.register(self(), Ferry.PlugTest.Waiter)
    {:ok, socket} = :gen_tcp.connect(~c"127.0.0.1", port, [:binary, active: false])

    :ok =
      :gen_tcp.send(socket, "GET /chunk-forever HTTP/1.1\r\nhost: x\r\nx-key: let-me-in\r\n\r\n")

    assert_receive {:chunking, _route}, 10_000
    {:ok, data} = :gen_tcp.recv(socket, 0, 10_000)
    assert data =~ "HTTP/1.1 200"
    :ok = :gen_tcp.close(socket)
    assert_receive {:closed_seen, n} when is_integer(n), 10_000
  end

  test "chunk/2 without send_chunked/2 is a logged 500 saying why", %{port: port} do
    log =
      capture_log(fn -> assert {500, _, _} = http(:get, port, "/chunk-without-send-chunked") end)

    assert log =~ "chunk/2: no stream was started; start one with stream_start/2 (send_chunked/2)"
  end

  test "request and response header functions", %{port: port} do
    {200, headers, "headers"} = http(:get, port, "/headers", @key ++ [{"x-gone", "1"}])
    assert header(headers, "x-seen") == [~s({["1"], []})]
    assert header(headers, "x-a") == ["1"]
    assert header(headers, "x-b") == []
    assert header(headers, "x-got") == [~s(["1"])]
  end

  test "fetch_cookies/1, put_resp_cookie/4 with every attribute, delete_resp_cookie/3", %{
    port: port
  } do
    cookie = [{"cookie", "a=1; bad name=2; old=x; a=shadowed"}, {"cookie", "noeq; b=\"q\""}]
    {200, headers, body} = http(:get, port, "/cookies", @key ++ cookie)

    {{req_cookies, cookies}, []} = Code.eval_string(body)
    assert req_cookies == %{"a" => "1", "old" => "x", "b" => "\"q\""}
    # The response cookies over the request's; a deleted one is gone.
    assert cookies == %{
             "a" => "1",
             "b" => "\"q\"",
             "plain" => "1",
             "full" => "v2",
             "nopath" => "3"
           }

    [full, nopath, old, plain] = header(headers, "set-cookie") |> Enum.sort()
    assert plain == "plain=1; Path=/; HttpOnly"
    assert nopath == "nopath=3; HttpOnly; SameSite=Lax"
    assert old == "old=; Path=/; Max-Age=0; Expires=Thu, 01 Jan 1970 00:00:00 GMT; HttpOnly"

    assert full =~
             ~r"^full=v2; Path=/app; Domain=example.org; Max-Age=60; Expires=\w{3}, \d\d \w{3} \d{4} \d\d:\d\d:\d\d GMT; Secure; SameSite=Strict; Partitioned$"
  end

  test "a cookie value that is not cookie-octets raises where it is set", %{port: port} do
    log = capture_log(fn -> assert {500, _, _} = http(:get, port, "/cookies/bad") end)
    assert log =~ ~s(cookie "a": value "has space" may not hold spaces)
  end

  test "register_before_send/2: the last registered runs first", %{port: port} do
    {200, headers, "sent"} = http(:get, port, "/before-send")
    assert header(headers, "x-order") == ["last-registered,first-registered"]
  end

  test "redirect/2: to:, external:, status, and no open redirect", %{port: port} do
    {302, headers, body} = http(:get, port, "/redirect/to")
    assert header(headers, "location") == ["/fields?x=<1>"]
    assert header(headers, "content-type") == ["text/html; charset=utf-8"]

    assert body ==
             ~s(<html><body>You are being <a href="/fields?x=&lt;1&gt;">redirected</a>.</body></html>)

    {301, headers, _} = http(:get, port, "/redirect/external")
    assert header(headers, "location") == ["https://example.org/"]
    assert {303, _, _} = http(:get, port, "/redirect/status")

    log = capture_log(fn -> assert {500, _, _} = http(:get, port, "/redirect/evil") end)
    assert log =~ "is not a path of this site"
  end

  test "a route's tuple takes a status name and a header map; plug headers stay", %{port: port} do
    {201, headers, "from a tuple with a header map"} = http(:get, port, "/tuple")
    assert header(headers, "x-map") == ["yes"]
  end

  test "an exception with a plug_status answers that status with its message", %{port: port} do
    log =
      capture_log(fn ->
        assert {418, _, "short and stout\n"} = http(:get, port, "/raise-status")
      end)

    refute log =~ "[error]"
  end

  test "match via: a list or one method; others get 405 with allow", %{port: port} do
    assert {200, _, "via GET"} = http(:get, port, "/via")
    assert {200, _, "via POST"} = http(:post, port, "/via", @key, "")
    # This router ends in match _, which takes the rest.
    assert {404, _, "no DELETE /via here"} = http(:delete, port, "/via")
    assert {200, _, "via one PUT"} = http(:put, port, "/via-one", @key, "")
  end

  test "get ..., to: a module plug, initialised with init_opts", %{port: port} do
    assert {200, _, ~s(hello from a module plug [greeting: "hi", initialised: true])} =
             http(:get, port, "/to")
  end

  test "head and options routes", %{port: port} do
    assert {200, headers, ""} = http(:head, port, "/head")
    assert header(headers, "x-head") == ["yes"]
    assert {200, _, "the GET body"} = http(:get, port, "/head")
    assert {204, headers, ""} = http(:options, port, "/opts")
    assert header(headers, "allow") == ["GET, OPTIONS"]
  end

  test "a route's assigns: and private:", %{port: port} do
    assert {200, _, "admin 1"} = http(:get, port, "/assigned")
  end

  test "forward to a router with its own pipeline", %{port: port} do
    assert {200, _, "api api tagged nil"} = http(:get, port, "/api/echo")
  end

  test "match _ answers what no route did", %{port: port} do
    assert {404, _, "no GET /nothing here"} = http(:get, port, "/nothing")
  end

  test "without :match and :dispatch, the routes come after every plug", %{implicit: port} do
    assert {200, _, "ran false"} = http(:get, port, "/", [])
    assert {403, _, "halted by a plug"} = http(:get, port, "/?halt=yes", [])

    assert {200, _, ~s(%{"a" => 1})} =
             http(:post, port, "/json", [], ~s({"a": 1}), "application/json")

    # Plug's default :pass is [], and so is Ferry's: other types get 415.
    assert {415, _, _} = http(:post, port, "/json", [], "x", "text/plain")

    assert {200, _, "via GET"} = http(:get, port, "/via", [])
    assert {405, headers, _} = http(:delete, port, "/via", [])
    assert header(headers, "allow") == ["GET, POST, HEAD"]
  end

  test "a plug that returns something else than a conn is a logged 500", %{bad: port} do
    log = capture_log(fn -> assert {500, _, _} = http(:get, port, "/", []) end)
    assert log =~ "plug pipeline failed"
    assert log =~ "plug :not_a_conn returned :oops"
  end

  test "plug pipelines that cannot work do not compile" do
    for {code, message} <- [
          {"plug :dispatch\nplug :match", ~r/:dispatch must come after plug :match/},
          {"plug :match\nplug :dispatch\nplug :x", ~r/:dispatch must be the last plug/},
          {"plug :match", ~r/name both plug :match and plug :dispatch/},
          {"plug Ferry.PlugTest.NoSuchPlug", ~r/NoSuchPlug is not an available module/},
          {"plug String", ~r/must define init\/1 and call\/2/},
          {"plug :x when true", ~r/plug guards/},
          {"get \"/\", to: Ferry.PlugTest.Hello, do: \"x\"", ~r/not both nor neither/},
          {"get \"/\", host: \"x\", do: \"x\"", ~r/unknown route option :host/},
          {"match \"/\", via: [1], do: \"x\"", ~r/via: takes method names/}
        ] do
      assert_raise CompileError, message, fn ->
        Code.compile_string("""
        defmodule Ferry.PlugTest.Bad#{System.unique_integer([:positive])} do
          use Ferry.Router
          #{code}
        end
        """)
      end
    end
  end
end
