defmodule Ferry.TelemetryTest do
  # Issue 12 from Elixir: Ferry.Telemetry's events for a Ferry.Router's
  # requests (plain, streamed, raising), a killed Rust process, detach,
  # :telemetry reached when it is loaded, the access log in Logger, and
  # the Prometheus text parsed and checked against the requests made.
  use ExUnit.Case, async: false
  import ExUnit.CaptureLog
  import FerryTest.HTTP

  defmodule Routes do
    use Ferry.Router

    get "/hello/:name", do: "hello #{name}"

    get "/stream" do
      conn = send_chunked(conn, 200)
      {:ok, conn} = chunk(conn, String.duplicate("x", 100))
      {:ok, conn} = chunk(conn, "end")
      conn
    end

    get "/crash", do: raise("on purpose")
  end

  @listener Ferry.TelemetryTest.HTTP
  @events [[:ferry, :request, :start], [:ferry, :request, :stop], [:ferry, :request, :exception]]

  setup do
    start_supervised!(
      {Ferry, name: @listener, port: 0, ip: {127, 0, 0, 1}, router: Routes, access_log: true}
    )

    on_exit(fn ->
      for %{id: id} <- :ferry_telemetry.list_handlers(), do: Ferry.Telemetry.detach(id)
    end)

    %{port: Ferry.port_number(@listener)}
  end

  defp collect(id, events) do
    test = self()

    :ok =
      Ferry.Telemetry.attach(
        id,
        events,
        fn e, m, md, _ -> send(test, {:event, e, m, md}) end,
        nil
      )
  end

  test "a plain request: start, then stop with the bytes Rust wrote and the route", %{port: port} do
    collect(:plain, @events)

    {head, body} =
      raw(port, "GET /hello/ada HTTP/1.1\r\nhost: t\r\nconnection: close\r\n\r\n", fn _ ->
        false
      end)

    assert body == "hello ada"

    assert_receive {:event, [:ferry, :request, :start], %{system_time: _, monotonic_time: _},
                    %{
                      listener: @listener,
                      method: "GET",
                      path: "/hello/ada",
                      peer: {{127, 0, 0, 1}, _}
                    }},
                   5000

    assert_receive {:event, [:ferry, :request, :stop], stop, meta}, 5000
    assert %{status: 200, resp_body_bytes: 9, req_body_bytes: 0, duration: d} = stop
    assert d > 0
    # access_log: true turned sent_events on: Rust's count of what it wrote.
    assert stop.resp_bytes == byte_size(head) + 4 + byte_size(body)
    assert %{route: "/hello/:name", status: 200, request_id: id} = meta
    assert is_binary(id)
    refute_received {:event, [:ferry, :request, :exception], _, _}
  end

  test "a streamed response counts its chunks", %{port: port} do
    collect(:stream, [[:ferry, :request, :stop]])
    {_head, body} = raw(port, "GET /stream HTTP/1.1\r\nhost: t\r\n\r\n")
    assert dechunk(body) == String.duplicate("x", 100) <> "end"
    assert_receive {:event, _, %{status: 200, resp_body_bytes: 103}, %{route: "/stream"}}, 5000
  end

  test "a route that raises: exception with kind, reason and stacktrace", %{port: port} do
    collect(:crash, @events)

    capture_log(fn ->
      assert {500, _, _} = request(:get, port, "/crash")

      assert_receive {:event, [:ferry, :request, :exception], %{duration: _},
                      %{
                        kind: :error,
                        reason: %RuntimeError{message: "on purpose"},
                        stacktrace: [_ | _],
                        route: "/crash",
                        status: 500
                      }},
                     5000
    end)

    refute_received {:event, [:ferry, :request, :stop], _, _}
    assert %{exceptions: 1, status_classes: %{"5xx": 1}} = Ferry.info(@listener).metrics
  end

  test "a killed Rust process: exit, restart and start events, counted" do
    collect(:port, [[:ferry, :port, :exit], [:ferry, :port, :restart], [:ferry, :port, :start]])
    os_pid = Ferry.info(@listener).os_pid

    capture_log(fn ->
      System.cmd("kill", ["-9", Integer.to_string(os_pid)])

      assert_receive {:event, [:ferry, :port, :exit], _,
                      %{os_pid: ^os_pid, reason: {:exit_status, 137}}},
                     10_000

      assert_receive {:event, [:ferry, :port, :restart], %{restarts: 1}, _}, 10_000
      assert_receive {:event, [:ferry, :port, :start], %{restarts: 1}, %{os_pid: new}}, 10_000
      assert new != os_pid
    end)

    assert Ferry.info(@listener).restarts == 1
  end

  test "detach stops delivery", %{port: port} do
    collect(:gone, [[:ferry, :request, :stop]])
    assert {200, _, _} = request(:get, port, "/hello/a")
    assert_receive {:event, _, _, _}, 5000
    assert :ok = Ferry.Telemetry.detach(:gone)
    assert {:error, :not_found} = Ferry.Telemetry.detach(:gone)
    assert {200, _, _} = request(:get, port, "/hello/b")
    refute_receive {:event, _, _, _}, 300
  end

  # A stand-in for the telemetry application: ferry finds telemetry:execute/3
  # at run time, so events reach it once the module is loaded, and stop when
  # it is gone.
  test "events reach :telemetry.execute/3 when telemetry is loaded", %{port: port} do
    Process.register(self(), :ferry_telemetry_test_sink)

    Code.compile_string("""
    defmodule :telemetry do
      def execute(event, measurements, metadata) do
        if pid = Process.whereis(:ferry_telemetry_test_sink),
          do: send(pid, {:telemetry, event, measurements, metadata})
      end
    end
    """)

    try do
      assert {200, _, _} = request(:get, port, "/hello/t")

      assert_receive {:telemetry, [:ferry, :request, :stop], %{status: 200}, %{path: "/hello/t"}},
                     5000
    after
      :code.delete(:telemetry)
      :code.purge(:telemetry)
    end

    assert {200, _, _} = request(:get, port, "/hello/u")
    refute_receive {:telemetry, _, _, %{path: "/hello/u"}}, 300
  end

  test "the access log: one Logger line per request", %{port: port} do
    # The line is logged as the request's process ends, just before stop.
    collect(:log, [[:ferry, :request, :stop]])

    log =
      capture_log([level: :info], fn ->
        assert {200, _, _} = request(:get, port, "/hello/log?x=1")
        assert {404, _, _} = request(:get, port, "/nowhere")
        assert_receive {:event, _, _, %{path: "/hello/log"}}, 5000
        assert_receive {:event, _, _, %{path: "/nowhere"}}, 5000
      end)

    assert log =~ ~r|127\.0\.0\.1 "GET /hello/log\?x=1 HTTP/1\.1" 200 \d+ \d+\.\d{3}ms|
    assert log =~ ~r|"GET /nowhere HTTP/1\.1" 404 |
  end

  test "the Prometheus text parses and agrees with the requests made", %{port: port} do
    for n <- 1..3, do: assert({200, _, _} = request(:get, port, "/hello/#{n}"))
    assert {404, _, _} = request(:get, port, "/nowhere")

    eventually(fn -> Ferry.info(@listener).metrics.requests == 4 end)

    samples =
      @listener |> List.wrap() |> Ferry.Telemetry.prometheus() |> IO.iodata_to_binary() |> parse()

    l = {"listener", "Ferry.TelemetryTest.HTTP"}
    assert samples[{"ferry_requests_total", [l, {"status_class", "2xx"}]}] == 3
    assert samples[{"ferry_requests_total", [l, {"status_class", "4xx"}]}] == 1
    assert samples[{"ferry_request_duration_seconds_count", [l]}] == 4
    assert samples[{"ferry_request_duration_seconds_bucket", [{"le", "+Inf"}, l]}] == 4
    assert samples[{"ferry_port_restarts_total", [l]}] == 0
  end

  # name{labels} value lines, after HELP and TYPE comments.
  defp parse(text) do
    for line <- String.split(text, "\n", trim: true),
        not String.starts_with?(line, "#"),
        into: %{} do
      [_, name, labels, value] = Regex.run(~r/^([a-zA-Z_:][a-zA-Z0-9_:]*)\{(.*)\} (\S+)$/, line)
      pairs = for [_, k, v] <- Regex.scan(~r/(\w+)="((?:[^"\\]|\\.)*)"/, labels), do: {k, v}

      value =
        case Integer.parse(value) do
          {n, ""} -> n
          _ -> value
        end

      {{name, Enum.sort(pairs)}, value}
    end
  end
end
