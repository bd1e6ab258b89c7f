defmodule Demo.Router do
  @moduledoc """
  The routes of the demo started by `make run` (see `demo/demo.exs`); each
  shows one thing Ferry does. The headline is the chat at `/chat`
  (`Demo.Chat`, WebSocket with fan-out in Rust).

      curl http://localhost:4000/hello/ada
  """

  use Ferry.Router

  # A browser gets the same list as a page, with a link to the chat.
  get "/" do
    if Enum.any?(get_req_header(conn, "accept"), &(&1 =~ "text/html")) do
      {200, [{"content-type", "text/html; charset=utf-8"}], Demo.Banner.html(base_url(conn))}
    else
      Demo.Banner.text(base_url(conn))
    end
  end

  get "/chat", do: {200, [{"content-type", "text/html; charset=utf-8"}], Demo.Chat.page()}

  get "/ws/chat" do
    case Demo.Chat.params(conn.params) do
      {:ok, room, name} -> upgrade_websocket(conn, Demo.Chat.Socket, {room, name})
      :error -> {400, "/ws/chat needs ?room=…&name=…, 1 to 24 printable characters each\n"}
    end
  end

  websocket("/ws/echo", Demo.EchoSocket, [], compress: true)

  get "/hello", do: "Hello from Ferry!\n"

  get "/hello/:name", do: "Hello, #{name}!\n"

  get "/users/:id/posts/:post_id" do
    lines = for {key, value} <- Enum.sort(conn.params), do: "  #{key} = #{value}\n"
    send_resp(conn, 200, ["user #{id}, post #{post_id}\nparams:\n" | lines])
  end

  post "/echo" do
    case read_full_body(conn, 10 * 1024 * 1024) do
      {:ok, body, conn} ->
        content_type =
          case get_req_header(conn, "content-type") do
            [type | _] -> type
            [] -> "application/octet-stream"
          end

        conn |> put_resp_header("content-type", content_type) |> send_resp(200, body)

      {:error, :too_large} ->
        {413, "the echo route takes at most 10 MiB; try /upload\n"}
    end
  end

  # The body is read in parts as it arrives: memory stays flat whatever its
  # size. A multipart form's files go to temporary files as they arrive.
  get "/upload", do: Demo.Upload.form(conn)
  post "/upload", do: Demo.Upload.post(conn)
  put "/upload", do: Demo.Body.digest(conn)

  # Files sent by the Rust process (sendfile): their bytes never enter the BEAM.
  static "/static", from: Path.expand("../../static", __DIR__)

  get "/download" do
    Demo.Download.send(
      conn,
      Demo.Params.int(conn.params, "bytes", 1_048_576, 0..(64 * 1024 ** 3))
    )
  end

  get "/stream" do
    count = Demo.Params.int(conn.params, "n", 10, 1..10_000)
    conn = conn |> put_resp_header("content-type", "text/plain") |> stream_start(200)

    conn =
      Enum.reduce(1..count, conn, fn i, conn ->
        if i > 1, do: Process.sleep(100)
        stream_chunk(conn, "chunk #{i} of #{count} at #{Demo.Clock.now()}\n")
      end)

    stream_end(conn)
  end

  get "/sse/clock" do
    ticks = Demo.Params.int(conn.params, "n", 10, 1..3600)
    conn = sse_start(conn)

    Enum.reduce(1..ticks, conn, fn i, conn ->
      if i > 1, do: Process.sleep(1000)
      send_event(conn, %{event: "tick", id: Integer.to_string(i), data: Demo.Clock.now()})
    end)
  end

  get "/crash" do
    raise "this route crashes on purpose; the server keeps going"
  end

  get "/_ferry/info" do
    {200, [{"content-type", "application/json"}],
     [Ferry.JSON.encode_to_iodata!(Ferry.info(Demo.HTTP)), ?\n]}
  end

  get "/_ferry/os_pid", do: "#{Ferry.info(Demo.HTTP).os_pid}\n"

  # The listener's counters in the Prometheus text format, and drawn live.
  get "/metrics" do
    {200, [{"content-type", "text/plain; version=0.0.4; charset=utf-8"}],
     Ferry.Telemetry.prometheus([Demo.HTTP])}
  end

  get "/_ferry/dashboard",
    do: {200, [{"content-type", "text/html; charset=utf-8"}], Demo.Dashboard.page()}

  get "/_ferry/dashboard/events" do
    interval = Demo.Params.int(conn.params, "interval", 1000, 100..10_000)
    Demo.Dashboard.stream(conn, Demo.HTTP, interval)
  end

  defp base_url(conn) do
    case get_req_header(conn, "host") do
      [host | _] -> "http://" <> host
      [] -> "http://localhost:#{Ferry.port_number(Demo.HTTP)}"
    end
  end
end
