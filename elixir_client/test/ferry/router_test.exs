defmodule Ferry.RouterTest do
  # The router alone, without a port: handle/1 is called with request maps
  # shaped like the ones the Erlang side builds (docs/ERLANG_API.md).
  use ExUnit.Case, async: true
  import ExUnit.CaptureLog

  defmodule Api do
    use Ferry.Router

    get "/status", do: {200, "api ok #{Enum.join(conn.script_name, "/")}"}
    get "/items/:id", do: "item #{id}"
  end

  defmodule Routes do
    use Ferry.Router

    get "/", do: "root"
    get "/users/:id", do: "user #{id}"
    get "/users/:id/files/*rest", do: "#{id}: #{Enum.join(rest, "|")}"
    post "/users", do: {201, "created"}
    put "/users/:id", do: {200, [{"x-id", id}], "put #{id}"}
    patch "/users/:id", do: "patch #{id}"
    delete "/users/:id", do: {204, ""}
    get "/params/:name", do: inspect(conn.params, custom_options: [sort_maps: true])
    get "/boom", do: raise("boom on purpose")
    get "/bad-return", do: :nonsense
    match "/any", do: "any #{conn.method}"
    forward "/api", to: Api
    get "/after-forward", do: "after"
  end

  defmodule Sock do
    use Ferry.WebSock
    @impl true
    def handle_in(_frame, state), do: {:ok, state}
  end

  defmodule ControlSock do
    use Ferry.WebSock
    @impl true
    def handle_in(_frame, state), do: {:ok, state}
    @impl true
    def handle_control(_frame, state), do: {:ok, state}
  end

  defmodule Sockets do
    use Ferry.Router

    websocket("/ws", Sock)
    websocket("/ws/rooms/:room", Sock, %{room: room, query: conn.query})
    websocket("/ws/opts", Sock, :s, compress: false, hibernate: true, protocol: "chat")
    websocket("/ws/control", ControlSock)

    get "/ws/decide" do
      if conn.query == "yes" do
        conn
        |> put_resp_header("set-cookie", "a=1")
        |> upgrade_websocket(Sock, :decided, headers: [{"x-extra", "2"}])
      else
        {403, "no"}
      end
    end

    get "/ws/bad-option", do: upgrade_websocket(conn, Sock, :s, timeout: 5)
    get "/ws/not-a-handler", do: upgrade_websocket(conn, String, :s)
  end

  defmodule Fallback do
    use Ferry.Router

    get "/", do: "fallback root"
    match _, do: {418, "teapot #{conn.path}"}
  end

  defp req(method, path, query \\ "") do
    %{
      method: method,
      path: path,
      query: query,
      version: {1, 1},
      headers: [{"host", "localhost"}],
      peer: {{127, 0, 0, 1}, 40000},
      body: ""
    }
  end

  defp body({_status, _headers, body}), do: IO.iodata_to_binary(body)

  test "a literal route" do
    assert {200, headers, "root"} = Routes.handle(req("GET", "/"))
    assert {"content-type", "text/plain; charset=utf-8"} in headers
  end

  test "get also answers HEAD" do
    assert {200, _, "root"} = Routes.handle(req("HEAD", "/"))
  end

  test ":name binds a variable, percent-decoded" do
    assert {200, _, "user 42"} = Routes.handle(req("GET", "/users/42"))
    assert {200, _, "user a b"} = Routes.handle(req("GET", "/users/a%20b"))
  end

  test "a trailing slash does not matter" do
    assert {200, _, "user 7"} = Routes.handle(req("GET", "/users/7/"))
  end

  test "*name binds the rest of the path" do
    assert {200, _, "9: a|b|c"} = Routes.handle(req("GET", "/users/9/files/a/b/c"))
    assert {200, _, "9: "} = Routes.handle(req("GET", "/users/9/files"))
  end

  test "post, put, patch and delete" do
    assert {201, _, "created"} = Routes.handle(req("POST", "/users"))
    assert {200, [{"x-id", "5"}], "put 5"} = Routes.handle(req("PUT", "/users/5"))
    assert {200, _, "patch 5"} = Routes.handle(req("PATCH", "/users/5"))
    assert {204, _, ""} = Routes.handle(req("DELETE", "/users/5"))
  end

  test "params merge path parameters over the query" do
    result = Routes.handle(req("GET", "/params/bob", "name=alice&x=1&y=a%2Bb+c"))
    assert body(result) == ~s(%{"name" => "bob", "x" => "1", "y" => "a+b c"})
  end

  test "malformed percent-encoding in a path is the client's 400, not a crash" do
    assert {400, _, message} = Routes.handle(req("GET", "/params/%zz", "a=1"))
    assert IO.iodata_to_binary(message) =~ ~s(the path "/params/%zz" has a % not followed)
  end

  test "a query string that is not one is the client's 400, not logged" do
    log =
      capture_log(fn ->
        assert {400, _, message} = Routes.handle(req("GET", "/params/x", "a=%&b=1"))

        assert IO.iodata_to_binary(message) ==
                 ~s(the query string has a % not followed by two hex digits in "a=%"\n)

        assert {400, _, _} = Routes.handle(req("GET", "/params/x", "a=%E9"))
      end)

    assert log == ""
  end

  test "match answers every method" do
    for method <- ["GET", "POST", "OPTIONS", "BREW"] do
      assert {200, _, "any " <> ^method} = Routes.handle(req(method, "/any"))
    end
  end

  test "forward hands the rest of the path to another router" do
    assert {200, _, "api ok api"} = Routes.handle(req("GET", "/api/status"))
    assert {200, _, "item 3"} = Routes.handle(req("GET", "/api/items/3"))
    assert {404, _, _} = Routes.handle(req("GET", "/api/nothing"))
    assert {405, headers, _} = Routes.handle(req("POST", "/api/status"))
    assert {"allow", "GET, HEAD"} in headers
  end

  test "routes after a forward still match" do
    assert {200, _, "after"} = Routes.handle(req("GET", "/after-forward"))
  end

  test "an unknown path is a 404" do
    assert {404, _, "Not Found\n"} = Routes.handle(req("GET", "/nope"))
    assert {404, _, _} = Routes.handle(req("GET", "/users/1/2"))
  end

  test "a known path with another method is a 405 listing the allowed ones" do
    assert {405, headers, _} = Routes.handle(req("POST", "/users/1"))
    assert {"allow", "GET, HEAD, PUT, PATCH, DELETE"} in headers
    assert {405, headers, _} = Routes.handle(req("DELETE", "/users"))
    assert {"allow", "POST"} in headers
  end

  test "match _ catches everything the routes above it did not" do
    assert {200, _, "fallback root"} = Fallback.handle(req("GET", "/"))
    assert {418, _, "teapot /x/y"} = Fallback.handle(req("POST", "/x/y"))
    assert {418, _, _} = Fallback.handle(req("POST", "/"))
  end

  test "a route that raises is a 500, logged with the route" do
    log = capture_log(fn -> assert {500, _, _} = Routes.handle(req("GET", "/boom")) end)

    assert log =~ "Ferry.RouterTest.Routes route GET /boom failed"
    assert log =~ "boom on purpose"
  end

  test "a route returning something else is a logged 500" do
    log = capture_log(fn -> assert {500, _, _} = Routes.handle(req("GET", "/bad-return")) end)
    assert log =~ ":nonsense"
  end

  test "websocket upgrades GET with the handler's state, through the adapter" do
    assert {:websocket, Ferry.WebSock.Adapter, {Sock, []}, %{}} =
             Sockets.handle(req("GET", "/ws"))
  end

  test "a websocket route's state may use its path variables and conn" do
    assert {:websocket, _, {Sock, %{room: "a b", query: "x=1"}}, _} =
             Sockets.handle(req("GET", "/ws/rooms/a%20b", "x=1"))
  end

  test "upgrade options become the Erlang side's" do
    assert {:websocket, _, {Sock, :s}, opts} = Sockets.handle(req("GET", "/ws/opts"))
    assert opts == %{deflate: false, hibernate: true, protocol: "chat"}
  end

  test "pings and pongs are asked for only by a handler with handle_control/2" do
    assert {:websocket, _, {ControlSock, []}, %{control: true}} =
             Sockets.handle(req("GET", "/ws/control"))
  end

  test "a route may decide, and response headers go on the 101" do
    assert {:websocket, _, {Sock, :decided}, %{headers: headers}} =
             Sockets.handle(req("GET", "/ws/decide", "yes"))

    assert headers == [{"set-cookie", "a=1"}, {"x-extra", "2"}]
    assert {403, _, "no"} = Sockets.handle(req("GET", "/ws/decide", "no"))
  end

  test "a websocket route answers GET only" do
    assert {405, headers, _} = Sockets.handle(req("POST", "/ws"))
    assert {"allow", "GET"} in headers
    assert {405, _, _} = Sockets.handle(req("HEAD", "/ws"))
  end

  test "a bad upgrade option or handler is a logged 500" do
    log = capture_log(fn -> assert {500, _, _} = Sockets.handle(req("GET", "/ws/bad-option")) end)
    assert log =~ "unknown option {:timeout, 5}"

    log =
      capture_log(fn -> assert {500, _, _} = Sockets.handle(req("GET", "/ws/not-a-handler")) end)

    assert log =~ "String is not a module with handle_in/2"
  end

  test "a bad route definition does not compile" do
    assert_raise CompileError, ~r/last segment/, fn ->
      Code.compile_string("""
      defmodule Ferry.RouterTest.BadGlob do
        use Ferry.Router
        get "/a/*rest/b", do: "x"
      end
      """)
    end

    assert_raise CompileError, ~r/not a valid variable name/, fn ->
      Code.compile_string("""
      defmodule Ferry.RouterTest.BadParam do
        use Ferry.Router
        get "/a/:Bad", do: "x"
      end
      """)
    end
  end
end
