defmodule Ferry.BodyRulesTest do
  # How a route reads the request body, through a real listener.
  use ExUnit.Case, async: false
  import FerryTest.HTTP

  defmodule Routes do
    use Ferry.Router

    post "/twice" do
      {:ok, a, conn} = read_body(conn, length: 1_000_000)
      {:ok, b, conn} = read_body(conn)
      {:ok, c, _conn} = read_full_body(conn, 10)
      "a=#{byte_size(a)} b=#{byte_size(b)} c=#{byte_size(c)}"
    end

    post "/parsed" do
      {:ok, rest, _conn} = read_body(conn)
      "#{inspect(conn.body_params)} rest=#{inspect(rest)}"
    end
  end

  defmodule Parsed do
    use Ferry.Router
    plug Ferry.Parsers, parsers: [:urlencoded], pass: ["*/*"]
    forward "/", to: Ferry.BodyRulesTest.Routes
  end

  setup do
    start_supervised!(
      {Ferry, name: Ferry.BodyRulesTest.HTTP, port: 0, ip: {127, 0, 0, 1}, router: Parsed}
    )

    %{port: Ferry.port_number(Ferry.BodyRulesTest.HTTP)}
  end

  # Issue 15, item 4: Plug's rule, "" once read, inline or streamed alike.
  test "a body read to its end reads as empty after, whatever its size", %{port: port} do
    assert {200, _, "a=5 b=0 c=0"} = request(:post, port, "/twice", [], "hello")
    # Over inline_body (64 KiB by default): a streamed body.
    assert {200, _, "a=200000 b=0 c=0"} =
             request(:post, port, "/twice", [], String.duplicate("x", 200_000))
  end

  test "after Ferry.Parsers read the body, the route reads it as empty", %{port: port} do
    {:ok, {{_, 200, _}, _, body}} =
      :httpc.request(
        :post,
        {~c"http://127.0.0.1:#{port}/parsed", [], ~c"application/x-www-form-urlencoded", "k=v"},
        [],
        body_format: :binary
      )

    assert body == ~s(%{"k" => "v"} rest="")
  end
end
