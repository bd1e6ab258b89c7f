defmodule Ferry.FailuresTest do
  # What a route that fails after answering, or answers wrongly, gets: the
  # client's answer and the log lines, through a real listener.
  use ExUnit.Case, async: false
  import ExUnit.CaptureLog
  import FerryTest.HTTP

  defmodule Routes do
    use Ferry.Router

    plug FerryTest.Announce, Ferry.FailuresTest.Waiter

    get "/twice", do: conn |> send_resp(200, "first") |> send_resp(200, "second")

    get "/raise-after" do
      send_resp(conn, 200, "sent")
      raise "raised after the response"
    end

    get "/raise-mid-stream" do
      conn = send_chunked(conn, 200)
      {:ok, _conn} = chunk(conn, "part")
      raise "raised mid-stream"
    end
  end

  setup do
    Process.register(self(), Ferry.FailuresTest.Waiter)

    start_supervised!(
      {Ferry, name: Ferry.FailuresTest.HTTP, port: 0, ip: {127, 0, 0, 1}, router: Routes}
    )

    %{port: Ferry.port_number(Ferry.FailuresTest.HTTP)}
  end

  defp occurrences(log, text), do: length(String.split(log, text)) - 1

  # Issue 15, item 3: one error line for the route's mistake, nothing about
  # answers that are not answers (the route did answer).
  test "a raise after the response was sent is logged once, as what it is", %{port: port} do
    log =
      capture_log(fn ->
        assert {200, _, "first"} = request(:get, port, "/twice")
        route_ended()
      end)

    assert occurrences(log, "[error]") == 1, log
    assert log =~ "route GET /twice failed"
    assert log =~ "Ferry.AlreadySentError"

    log =
      capture_log(fn ->
        assert {200, _, "sent"} = request(:get, port, "/raise-after")
        route_ended()
      end)

    assert occurrences(log, "[error]") == 1, log
    assert occurrences(log, "raised after the response") == 1, log
  end

  test "a raise mid-stream cuts the response, and is logged once without the conn", %{port: port} do
    log =
      capture_log(fn ->
        {head, body} =
          raw(port, "GET /raise-mid-stream HTTP/1.1\r\nhost: x\r\n\r\n", fn _ -> false end)

        assert head =~ ~r"^HTTP/1.1 200 "
        # The part that went out, and no last chunk: the client can tell.
        assert body =~ "part"
        refute body =~ "\r\n0\r\n\r\n"
        route_ended()
      end)

    assert occurrences(log, "[error]") == 1, log
    assert occurrences(log, "raised mid-stream") == 1, log
    refute log =~ "%Ferry.Conn{"
  end
end
