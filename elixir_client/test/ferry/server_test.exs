defmodule Ferry.ServerTest do
  # Every route form through a real listener: the Rust binary, the port,
  # the Erlang app and the router, hit with :httpc and :gen_tcp.
  use ExUnit.Case, async: false
  import ExUnit.CaptureLog
  import FerryTest.HTTP

  defmodule Api do
    use Ferry.Router

    get "/version", do: "api v1 under /#{Enum.join(conn.script_name, "/")}"
    get "/items/:id", do: {200, [{"x-item", id}], "item #{id}"}
    match _, do: {404, "no #{conn.method} #{Enum.join(conn.path_info, "/")} in the api"}
  end

  defmodule Routes do
    use Ferry.Router

    get "/", do: "root"
    get "/users/:id", do: "user #{id}"
    get "/files/*path", do: Enum.join(path, "|")

    get "/params/:name",
      do: conn.params |> Enum.sort() |> Enum.map_join("&", fn {k, v} -> "#{k}=#{v}" end)

    get "/header" do
      [agent] = get_req_header(conn, "x-test")
      conn |> put_resp_header("x-echo", agent) |> send_resp(202, "header ok")
    end

    post "/users" do
      {:ok, body, conn} = read_body(conn)
      send_resp(conn, 201, "created #{body}")
    end

    post "/small" do
      case read_full_body(conn, 10) do
        {:ok, body, conn} -> send_resp(conn, 200, body)
        {:error, :too_large} -> {413, "over 10 bytes"}
      end
    end

    put "/users/:id", do: {200, "put #{id}"}
    patch "/users/:id", do: {200, "patch #{id}"}
    delete "/users/:id", do: {200, "delete #{id}"}
    match "/anything", do: "any #{conn.method}"
    get "/crash", do: raise("crash on purpose")

    get "/hints" do
      conn
      |> put_resp_header("link", "</app.css>; rel=preload")
      |> send_resp(103, "")
      |> send_resp(200, "final")
    end

    get "/only_hints", do: {103, ""}
    get "/body/int", do: send_resp(conn, 200, 123)
    get "/return/int", do: {200, 123}
    get "/bad_header", do: conn |> put_resp_header("x-a", "a\r\nset-cookie: b") |> send_resp(200, "x")

    get "/sse/forever" do
      send(Ferry.ServerTest.Waiter, {:sse_route, self()})
      conn = sse_start(conn)

      Enum.reduce(Stream.iterate(1, &(&1 + 1)), conn, fn i, conn ->
        Process.sleep(20)
        send_event(conn, "#{i}")
      end)
    end

    forward "/api", to: Api
  end

  setup do
    start_supervised!(
      {Ferry, name: Ferry.ServerTest.HTTP, port: 0, ip: {127, 0, 0, 1}, router: Routes}
    )

    %{port: Ferry.port_number(Ferry.ServerTest.HTTP)}
  end

  test "get, with a literal path and a :param", %{port: port} do
    assert {200, _, "root"} = request(:get, port, "/")
    assert {200, _, "user 42"} = request(:get, port, "/users/42")
    assert {200, _, "user a b"} = request(:get, port, "/users/a%20b")
  end

  test "a *glob binds the rest of the path", %{port: port} do
    assert {200, _, "a|b|c.txt"} = request(:get, port, "/files/a/b/c.txt")
  end

  test "params merge the path over the query", %{port: port} do
    assert {200, _, "name=ada&x=1 2"} = request(:get, port, "/params/ada?name=bob&x=1+2")
  end

  test "request and response headers", %{port: port} do
    assert {202, headers, "header ok"} = request(:get, port, "/header", [{"x-test", "hello"}])
    assert headers["x-echo"] == "hello"
  end

  test "post, put, patch, delete", %{port: port} do
    assert {201, _, "created x=1"} = request(:post, port, "/users", [], "x=1")
    assert {200, _, "put 3"} = request(:put, port, "/users/3", [], "")
    assert {200, _, "patch 3"} = request(:patch, port, "/users/3", [], "")
    assert {200, _, "delete 3"} = request(:delete, port, "/users/3")
  end

  test "read_full_body/2 with a cap", %{port: port} do
    assert {200, _, "0123456789"} = request(:post, port, "/small", [], "0123456789")
    assert {413, _, "over 10 bytes"} = request(:post, port, "/small", [], "0123456789A")
  end

  test "match answers any method", %{port: port} do
    assert {200, _, "any GET"} = request(:get, port, "/anything")
    assert {200, _, "any POST"} = request(:post, port, "/anything", [], "")
    assert {200, _, "any OPTIONS"} = request(:options, port, "/anything")
  end

  test "forward, to a router ending in match _", %{port: port} do
    assert {200, _, "api v1 under /api"} = request(:get, port, "/api/version")
    assert {200, %{"x-item" => "9"}, "item 9"} = request(:get, port, "/api/items/9")
    assert {404, _, "no GET other/x in the api"} = request(:get, port, "/api/other/x")
    assert {404, _, "no POST version in the api"} = request(:post, port, "/api/version", [], "")
  end

  test "404 and 405 with allow", %{port: port} do
    assert {404, _, "Not Found\n"} = request(:get, port, "/nothing/here")
    assert {405, headers, _} = request(:post, port, "/users/1", [], "")
    assert headers["allow"] == "GET, HEAD, PUT, PATCH, DELETE"
  end

  test "HEAD gets the headers of GET and no body", %{port: port} do
    assert {200, headers, ""} = request(:head, port, "/users/1")
    assert headers["content-length"] == "6"
  end

  test "a streaming route whose client went away is ended, without an error", %{port: port} do
    Process.register(self(), Ferry.ServerTest.Waiter)

    log =
      capture_log(fn ->
        {:ok, socket} = :gen_tcp.connect(~c"127.0.0.1", port, [:binary, active: false])
        :ok = :gen_tcp.send(socket, "GET /sse/forever HTTP/1.1\r\nhost: x\r\n\r\n")
        assert_receive {:sse_route, route}, 10_000
        ref = Process.monitor(route)
        {:ok, data} = :gen_tcp.recv(socket, 0, 10_000)
        assert data =~ "text/event-stream"
        :ok = :gen_tcp.close(socket)
        assert_receive {:DOWN, ^ref, :process, ^route, _reason}, 10_000
      end)

    refute log =~ "failed"
    refute log =~ "crashed"
  end

  test "send_resp with 103 sends early hints, then the final response", %{port: port} do
    {hints, rest} =
      raw(port, "GET /hints HTTP/1.1\r\nhost: x\r\n\r\n", &String.ends_with?(&1, "final"))

    assert hints =~ ~r"^HTTP/1.1 103 "
    assert hints =~ "link: </app.css>; rel=preload"
    assert rest =~ ~r"^HTTP/1.1 200 "
    assert String.ends_with?(rest, "\r\n\r\nfinal")
  end

  test "a route answering only a 1xx is a logged 500, at once", %{port: port} do
    log = capture_log(fn -> assert {500, _, _} = request(:get, port, "/only_hints") end)
    assert log =~ "informational status"
  end

  test "a body or header that cannot be sent is a logged 500, at once", %{port: port} do
    log = capture_log(fn -> assert {500, _, _} = request(:get, port, "/body/int") end)
    assert log =~ "route GET /body/int failed"

    log = capture_log(fn -> assert {500, _, _} = request(:get, port, "/bad_header") end)
    # Refused before it was sent, where the route is known.
    assert log =~ "route GET /bad_header failed"
    assert log =~ "bad_response"
  end

  test "the Erlang side's reports read on one line, with the listener as Elixir names it",
       %{port: port} do
    log = capture_log(fn -> assert {500, _, _} = request(:get, port, "/return/int") end)
    [line] = for l <- String.split(log, "\n"), l =~ "not an answer", do: l
    assert line =~ "ferry listener Ferry.ServerTest.HTTP, request "
    assert line =~ "GET /return/int (handler Ferry.ServerTest.Routes)"
    assert line =~ ~s({200,[{<<"content-type">>,<<"text/plain; charset=utf-8">>}],123})
  end

  test "a route that raises is a 500 and the server keeps serving", %{port: port} do
    log = capture_log(fn -> assert {500, _, _} = request(:get, port, "/crash") end)
    assert log =~ "route GET /crash failed"
    assert log =~ "crash on purpose"
    assert {200, _, "root"} = request(:get, port, "/")
  end
end
