defmodule DemoTest do
  # What `make run` shows, checked the way its banner tells a user to try it.
  use ExUnit.Case, async: false
  import ExUnit.CaptureLog
  import FerryTest.HTTP

  setup do
    start_supervised!({Ferry, name: Demo.HTTP, port: 0, ip: {127, 0, 0, 1}, router: Demo.Router})
    %{port: Ferry.port_number(Demo.HTTP)}
  end

  test "the index lists the URLs to try", %{port: port} do
    {200, _, body} = request(:get, port, "/")
    assert body =~ "curl http://127.0.0.1:#{port}/hello"
  end

  test "hello and path params", %{port: port} do
    assert {200, _, "Hello from Ferry!\n"} = request(:get, port, "/hello")
    assert {200, _, "Hello, ada!\n"} = request(:get, port, "/hello/ada")
    {200, _, body} = request(:get, port, "/users/7/posts/42?tag=a+b")
    assert body =~ "user 7, post 42"
    assert body =~ "tag = a b"
  end

  test "POST echo", %{port: port} do
    assert {200, %{"content-type" => "application/octet-stream"}, "echo me"} =
             request(:post, port, "/echo", [], "echo me")
  end

  test "a streamed upload reports its size and SHA-256", %{port: port} do
    # Larger than inline_body, so it reaches the route as a stream.
    body = :crypto.strong_rand_bytes(3 * 1024 * 1024 + 17)
    sha = :crypto.hash(:sha256, body) |> Base.encode16(case: :lower)
    assert {200, _, reply} = request(:post, port, "/upload", [], body)
    assert reply == "received #{byte_size(body)} bytes, sha256 #{sha}\n"
  end

  test "a chunked upload of unknown length is streamed too", %{port: port} do
    parts = for i <- 1..50, do: :binary.copy(<<i>>, 10_000)
    sha = :crypto.hash(:sha256, parts) |> Base.encode16(case: :lower)
    chunks = for p <- parts, do: [Integer.to_string(byte_size(p), 16), "\r\n", p, "\r\n"]

    request = [
      "PUT /upload HTTP/1.1\r\nhost: x\r\ntransfer-encoding: chunked\r\nconnection: close\r\n\r\n",
      chunks,
      "0\r\n\r\n"
    ]

    {head, body} = raw(port, request, fn _ -> false end)
    assert head =~ "HTTP/1.1 200"
    assert body =~ "received 500000 bytes, sha256 #{sha}"
  end

  test "a chunked streaming response", %{port: port} do
    {head, body} = raw(port, "GET /stream?n=3 HTTP/1.1\r\nhost: x\r\n\r\n")
    assert head =~ "HTTP/1.1 200"
    assert head =~ ~r/transfer-encoding: chunked/i
    lines = body |> dechunk() |> String.split("\n", trim: true)
    assert [~s(chunk 1 of 3 at ) <> _, "chunk 2 of 3 at " <> _, "chunk 3 of 3 at " <> _] = lines
  end

  test "the SSE clock", %{port: port} do
    {head, body} = raw(port, "GET /sse/clock?n=2 HTTP/1.1\r\nhost: x\r\n\r\n")
    assert head =~ ~r/content-type: text\/event-stream/i
    events = body |> dechunk() |> String.split("\n\n", trim: true)
    assert [first, second] = events
    assert first =~ ~r/\Aevent: tick\nid: 1\ndata: \d{4}-\d\d-\d\dT/
    assert second =~ ~r/\Aevent: tick\nid: 2\ndata: /
  end

  test "an SSE client that goes away ends its route, quietly", %{port: port} do
    log =
      capture_log(fn ->
        {:ok, socket} = :gen_tcp.connect(~c"127.0.0.1", port, [:binary, active: false])
        :ok = :gen_tcp.send(socket, "GET /sse/clock?n=3600 HTTP/1.1\r\nhost: x\r\n\r\n")
        {:ok, first} = :gen_tcp.recv(socket, 0, 10_000)
        assert first =~ "text/event-stream"
        assert Ferry.info(Demo.HTTP).in_flight == 1
        :ok = :gen_tcp.close(socket)
        assert eventually(fn -> Ferry.info(Demo.HTTP).in_flight == 0 end)
      end)

    refute log =~ "failed"
    assert {200, _, "Hello from Ferry!\n"} = request(:get, port, "/hello")
  end

  test "the crashing route is a 500 and the server keeps going", %{port: port} do
    log = capture_log(fn -> assert {500, _, _} = request(:get, port, "/crash") end)
    assert log =~ "crashes on purpose"
    assert {200, _, "Hello from Ferry!\n"} = request(:get, port, "/hello")
  end

  test "/_ferry/info shows live counters and the Rust os pid", %{port: port} do
    {200, %{"content-type" => "application/json"}, before} = request(:get, port, "/_ferry/info")
    [_, n] = Regex.run(~r/"requests":(\d+)/, before)
    {200, _, later} = request(:get, port, "/_ferry/info")
    [_, m] = Regex.run(~r/"requests":(\d+)/, later)
    assert String.to_integer(m) > String.to_integer(n)

    {200, _, os_pid} = request(:get, port, "/_ferry/os_pid")
    assert String.to_integer(String.trim(os_pid)) == Ferry.info(Demo.HTTP).os_pid
  end

  test "the upload form, and several files through it", %{port: port} do
    {200, %{"content-type" => "text/html; charset=utf-8"}, page} = request(:get, port, "/upload")
    assert page =~ ~s(enctype="multipart/form-data")
    assert page =~ ~s(name="files[]" multiple)

    a = :crypto.strong_rand_bytes(100_000)
    b = "second file\r\n"
    sha = fn data -> :crypto.hash(:sha256, data) |> Base.encode16(case: :lower) end

    body =
      FerryTest.FilesHTTP.multipart([
        {"files[]", "a.bin", a},
        {"files[]", "b.txt", b},
        {"note", "hi"}
      ])

    assert {200, _, reply} =
             FerryTest.FilesHTTP.request(
               port,
               "POST",
               "/upload",
               [{"content-type", "multipart/form-data; boundary=B"}],
               IO.iodata_to_binary(body)
             )

    assert reply ==
             "received 3 parts\n" <>
               "files[] a.bin: 100000 bytes, sha256 #{sha.(a)}\n" <>
               "files[] b.txt: #{byte_size(b)} bytes, sha256 #{sha.(b)}\n" <>
               "note = hi\n"
  end

  test "/download sends N bytes with a content-length", %{port: port} do
    for n <- [0, 1, 1_048_576, 3_000_001] do
      {200, headers, body} = FerryTest.FilesHTTP.request(port, "GET", "/download?bytes=#{n}")
      assert headers["content-length"] == Integer.to_string(n)
      assert byte_size(body) == n
    end
  end

  test "the static directory", %{port: port} do
    css = File.read!(Path.expand("../demo/static/style.css", __DIR__))

    assert {200, %{"content-type" => "text/css; charset=utf-8"}, ^css} =
             FerryTest.FilesHTTP.request(port, "GET", "/static/style.css")

    assert {200, %{"content-type" => "image/svg+xml"}, _} =
             FerryTest.FilesHTTP.request(port, "GET", "/static/ferry.svg")

    assert {404, _, _} = FerryTest.FilesHTTP.request(port, "GET", "/static/nope.css")

    assert {400, _, _} =
             FerryTest.FilesHTTP.request(port, "GET", "/static/%2e%2e/lib/demo/router.ex")
  end
end
