defmodule FerryTest.HTTP do
  @moduledoc false
  # Small real clients for the tests: :httpc for ordinary requests, raw
  # :gen_tcp where the bytes on the wire are the point (chunked, SSE).

  @doc false
  def request(method, port, path, headers \\ [], body \\ nil) do
    url = String.to_charlist("http://127.0.0.1:#{port}#{path}")
    headers = for {k, v} <- headers, do: {String.to_charlist(k), String.to_charlist(v)}

    request =
      case body do
        nil -> {url, headers}
        body -> {url, headers, ~c"application/octet-stream", body}
      end

    {:ok, {{_, status, _}, resp_headers, resp_body}} =
      :httpc.request(method, request, [timeout: 60_000], body_format: :binary)

    {status, Map.new(resp_headers, fn {k, v} -> {List.to_string(k), List.to_string(v)} end),
     resp_body}
  end

  @doc false
  # Sends raw request bytes and reads until the server closes or `done?`
  # says the response is complete; returns {head, body} as binaries.
  def raw(port, request, done? \\ &chunked_done?/1) do
    {:ok, socket} = :gen_tcp.connect(~c"127.0.0.1", port, [:binary, active: false], 10_000)
    :ok = :gen_tcp.send(socket, request)
    data = recv_until(socket, "", done?)
    :gen_tcp.close(socket)
    [head, body] = String.split(data, "\r\n\r\n", parts: 2)
    {head, body}
  end

  defp recv_until(socket, acc, done?) do
    if done?.(acc) do
      acc
    else
      case :gen_tcp.recv(socket, 0, 30_000) do
        {:ok, data} -> recv_until(socket, acc <> data, done?)
        {:error, :closed} -> acc
      end
    end
  end

  @doc false
  def chunked_done?(data), do: String.ends_with?(data, "\r\n0\r\n\r\n")

  @doc false
  # A response head (without its blank line) as {status, headers}, header
  # names lower-cased.
  def parse_head(head) do
    [status_line | lines] = String.split(head, "\r\n")
    ["HTTP/1.1", status | _] = String.split(status_line, " ", parts: 3)

    headers =
      Map.new(lines, fn line ->
        [name, value] = String.split(line, ":", parts: 2)
        {String.downcase(name), String.trim(value)}
      end)

    {String.to_integer(status), headers}
  end

  @doc false
  # The payload of a chunked body.
  def dechunk(body), do: dechunk(body, [])

  defp dechunk(body, acc) do
    [size_line, rest] = String.split(body, "\r\n", parts: 2)
    {size, _} = Integer.parse(size_line, 16)

    case size do
      0 ->
        IO.iodata_to_binary(acc)

      size ->
        <<chunk::binary-size(size), "\r\n", rest::binary>> = rest
        dechunk(rest, [acc | chunk])
    end
  end

  @doc false
  # Waits (bounded) for the end of the route FerryTest.Announce announced.
  def route_ended do
    receive do
      {:route, route} ->
        ref = Process.monitor(route)

        receive do
          {:DOWN, ^ref, :process, ^route, _} -> :ok
        after
          10_000 -> raise "the route did not end"
        end
    after
      10_000 -> raise "no route announced itself"
    end
  end

  @doc false
  # Waits (bounded) until fun returns a truthy value, which it returns.
  def eventually(fun, tries \\ 200) do
    case safe(fun) do
      result when result not in [nil, false] ->
        result

      _ when tries > 0 ->
        Process.sleep(50)
        eventually(fun, tries - 1)

      _ ->
        raise "condition not met after waiting"
    end
  end

  defp safe(fun) do
    fun.()
  catch
    _, _ -> nil
  end
end

defmodule FerryTest.Announce do
  @moduledoc false
  # A plug telling the test process (registered under the name given) which
  # process runs the request, so that a test can wait for it to end: the
  # log lines of a route that fails after answering come after the client
  # has its answer. Then FerryTest.HTTP.route_ended/0.
  def init(name), do: name

  def call(conn, name) do
    send(name, {:route, self()})
    conn
  end
end
