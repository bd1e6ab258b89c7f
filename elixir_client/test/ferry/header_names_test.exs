defmodule Ferry.HeaderNamesTest do
  # Response header names, whatever their case, through a real listener.
  use ExUnit.Case, async: false
  import FerryTest.HTTP

  defmodule Routes do
    use Ferry.Router

    get "/sse" do
      conn
      |> put_resp_header("Content-Type", "text/event-stream; charset=utf-8")
      |> sse_start()
      |> send_event("x")
    end

    get "/twice" do
      conn
      |> put_resp_header("X-Name", "first")
      |> put_resp_header("x-name", "second")
      |> then(&put_resp_header(&1, "x-seen", inspect(get_resp_header(&1, "X-NAME"))))
      |> send_resp(200, "ok")
    end
  end

  setup do
    start_supervised!(
      {Ferry, name: Ferry.HeaderNamesTest.HTTP, port: 0, ip: {127, 0, 0, 1}, router: Routes}
    )

    %{port: Ferry.port_number(Ferry.HeaderNamesTest.HTTP)}
  end

  defp lines(head, name) do
    for line <- String.split(head, "\r\n"),
        [key, value] <- [String.split(line, ":", parts: 2)],
        String.downcase(key) == name,
        do: String.trim(value)
  end

  # Issue 15, item 6: names are lowercased when set, so the one set by the
  # route replaces sse_start's instead of going out beside it.
  test "a header set in another case replaces, it is not sent twice", %{port: port} do
    {head, _body} =
      raw(port, "GET /sse HTTP/1.1\r\nhost: x\r\n\r\n", &String.contains?(&1, "data: x"))

    assert lines(head, "content-type") == ["text/event-stream; charset=utf-8"]

    {head, _body} =
      raw(port, "GET /twice HTTP/1.1\r\nhost: x\r\n\r\n", &String.ends_with?(&1, "ok"))

    assert lines(head, "x-name") == ["second"]
    assert lines(head, "x-seen") == [~s(["second"])]
  end
end
