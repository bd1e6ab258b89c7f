defmodule Ferry.MisuseTest do
  # A route that uses Ferry.Conn wrongly gets an exception that says what
  # happened and what to do, not a FunctionClauseError dumping the conn nor
  # an Erlang error: through a real listener, reading the log.
  use ExUnit.Case, async: false
  import ExUnit.CaptureLog
  import FerryTest.HTTP

  defmodule Routes do
    use Ferry.Router

    plug FerryTest.Announce, Ferry.MisuseTest.Waiter

    get "/chunk-after-end" do
      conn |> stream_start(200) |> stream_chunk("a") |> stream_end() |> stream_chunk("b")
    end

    get "/chunk-on-sse", do: conn |> sse_start() |> stream_chunk("a")
    get "/chunk-before-start", do: stream_chunk(conn, "a")
    get "/event-on-stream", do: conn |> stream_start(200) |> send_event("a")
    get "/end-unstarted", do: stream_end(conn)
    get "/start-after-send", do: conn |> send_resp(200, "a") |> stream_start(200)

    get "/old-conn" do
      _sent = send_resp(conn, 200, "first")
      send_resp(conn, 200, "second")
    end

    get "/header-map", do: {200, %{"x-a" => "b"}, "with a header map"}
  end

  setup do
    Process.register(self(), Ferry.MisuseTest.Waiter)

    start_supervised!(
      {Ferry, name: Ferry.MisuseTest.HTTP, port: 0, ip: {127, 0, 0, 1}, router: Routes}
    )

    %{port: Ferry.port_number(Ferry.MisuseTest.HTTP)}
  end

  # The log of one request, once its route's process has ended.
  defp log_of(port, path) do
    capture_log(fn ->
      raw(port, "GET #{path} HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n", fn _ -> false end)
      route_ended()
    end)
  end

  # Issue 15, item 12.
  test "each misuse raises an exception that says what to do", %{port: port} do
    for {path, exception, message} <- [
          {"/chunk-after-end", "Ferry.AlreadySentError",
           "stream_chunk/2: the stream was already ended with stream_end/1"},
          {"/chunk-on-sse", "ArgumentError",
           "stream_chunk/2: this conn is a server-sent-events stream; send with send_event/2"},
          {"/chunk-before-start", "ArgumentError",
           "stream_chunk/2: no stream was started; start one with stream_start/2 (send_chunked/2)"},
          {"/event-on-stream", "ArgumentError",
           "send_event/2: this conn is a chunked stream; send with stream_chunk/2 (chunk/2)"},
          {"/end-unstarted", "ArgumentError", "stream_end/1: no stream was started"},
          {"/start-after-send", "Ferry.AlreadySentError",
           "stream_start/2: the response was already sent"},
          {"/old-conn", "Ferry.AlreadySentError",
           "send_resp/3: the response was already sent; this conn is an older copy: " <>
             "use the conn that the call which answered returned"}
        ] do
      log = log_of(port, path)
      assert log =~ "(#{exception}) #{message}", "#{path}:\n#{log}"
      refute log =~ "%Ferry.Conn{", "#{path}: the conn was dumped:\n#{log}"
      refute log =~ "FunctionClauseError", path
      refute log =~ "ErlangError", path
    end
  end

  test "a route may return headers as a map, as an Erlang handler may", %{port: port} do
    assert {200, headers, "with a header map"} = request(:get, port, "/header-map")
    assert headers["x-a"] == "b"
  end
end
