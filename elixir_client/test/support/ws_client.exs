defmodule FerryTest.WS do
  @moduledoc false
  # A small WebSocket client over :gen_tcp for the tests (RFC 6455): the
  # opening handshake, masked frames out, frames in (fragments joined,
  # permessage-deflate inflated), the close handshake. Bytes read past a
  # frame wait in the process dictionary for the next recv/2 of the same
  # socket, so a test calls recv(ws) and gets the next message.

  defstruct [:socket, :headers, :status]

  @guid "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
  @timeout 10_000

  @doc false
  # Opens a WebSocket to `path`. `{:ok, ws}` on a 101 whose
  # sec-websocket-accept is right; `{:error, {status, headers, body}}`
  # on any other answer. `headers` are added to (or replace) the handshake's.
  def connect(port, path, headers \\ []) do
    key = Base.encode64(:crypto.strong_rand_bytes(16))

    base = [
      {"host", "127.0.0.1:#{port}"},
      {"upgrade", "websocket"},
      {"connection", "Upgrade"},
      {"sec-websocket-key", key},
      {"sec-websocket-version", "13"}
    ]

    all =
      Enum.reduce(headers, base, fn {name, value}, acc ->
        List.keystore(acc, name, 0, {name, value})
      end)

    {:ok, socket} = :gen_tcp.connect(~c"127.0.0.1", port, [:binary, active: false], @timeout)
    head = for {name, value} <- all, value != nil, do: [name, ": ", value, "\r\n"]
    :ok = :gen_tcp.send(socket, ["GET ", path, " HTTP/1.1\r\n", head, "\r\n"])
    {status, resp_headers, rest} = read_head(socket, "")

    case status do
      101 ->
        expected = Base.encode64(:crypto.hash(:sha, key <> @guid))
        ^expected = resp_headers["sec-websocket-accept"]

        Process.put({__MODULE__, socket}, %{
          buffer: rest,
          inflate: inflater(resp_headers),
          last_compressed: false
        })

        {:ok, %__MODULE__{socket: socket, headers: resp_headers, status: 101}}

      status ->
        body = read_body(socket, resp_headers, rest)
        :gen_tcp.close(socket)
        {:error, {status, resp_headers, body}}
    end
  end

  @doc false
  def connect!(port, path, headers \\ []) do
    {:ok, ws} = connect(port, path, headers)
    ws
  end

  @doc false
  def send_text(ws, data), do: send_frame(ws, 0x1, data)
  @doc false
  def send_binary(ws, data), do: send_frame(ws, 0x2, data)
  @doc false
  def send_ping(ws, data), do: send_frame(ws, 0x9, data)

  @doc false
  def send_close(ws, code, reason \\ ""), do: send_frame(ws, 0x8, <<code::16, reason::binary>>)

  @doc false
  # One masked frame; `fin: false` for a fragment.
  def send_frame(%__MODULE__{socket: socket}, opcode, payload, opts \\ []) do
    payload = IO.iodata_to_binary(payload)
    fin = if Keyword.get(opts, :fin, true), do: 1, else: 0
    mask = :crypto.strong_rand_bytes(4)

    length =
      case byte_size(payload) do
        n when n < 126 -> <<1::1, n::7>>
        n when n < 65_536 -> <<1::1, 126::7, n::16>>
        n -> <<1::1, 127::7, n::64>>
      end

    :gen_tcp.send(socket, [<<fin::1, 0::3, opcode::4>>, length, mask, mask(payload, mask)])
  end

  @doc false
  # The next message: {:text, data}, {:binary, data}, {:ping, data},
  # {:pong, data}, {:close, code, reason} ({:close, nil, ""} for an empty
  # close frame), or :closed when the connection ends without one.
  def recv(%__MODULE__{socket: socket}, timeout \\ @timeout) do
    deadline = System.monotonic_time(:millisecond) + timeout
    recv_message(socket, deadline, nil)
  end

  @doc false
  # The first message for which `fun` is true; the others are dropped.
  def recv_until(ws, fun, timeout \\ @timeout) do
    deadline = System.monotonic_time(:millisecond) + timeout

    Stream.repeatedly(fn -> recv(ws, max(deadline - System.monotonic_time(:millisecond), 0)) end)
    |> Enum.find(fn
      :closed -> raise "connection closed while waiting for a message"
      {:error, :timeout} -> raise "no matching message in time"
      message -> fun.(message)
    end)
  end

  @doc false
  # The client's side of a close: sends close `code`, returns the server's
  # close frame, then waits for the server to close the TCP connection.
  def close(ws, code \\ 1000, reason \\ "") do
    :ok = send_close(ws, code, reason)
    reply = recv_until(ws, &match?({:close, _, _}, &1))
    :closed = recv(ws)
    :gen_tcp.close(ws.socket)
    reply
  end

  defp recv_message(socket, deadline, partial) do
    case recv_frame(socket, deadline) do
      {:frame, fin, rsv1, opcode, payload} ->
        case {opcode, partial} do
          {0x0, {op, compressed, acc}} ->
            finish(socket, deadline, fin, op, compressed, [acc, payload])

          {op, nil} when op in [0x1, 0x2] ->
            finish(socket, deadline, fin, op, rsv1 == 1, payload)

          {0x8, _} ->
            close_frame(payload)

          {0x9, _} ->
            {:ping, payload}

          {0xA, _} ->
            {:pong, payload}

          other ->
            raise "unexpected frame #{inspect(other)}"
        end

      other ->
        other
    end
  end

  defp finish(socket, deadline, 0, op, compressed, acc),
    do: recv_message(socket, deadline, {op, compressed, acc})

  defp finish(socket, _deadline, 1, op, compressed, acc) do
    data = IO.iodata_to_binary(acc)
    data = if compressed, do: inflate(socket, data), else: data

    Process.put({__MODULE__, socket}, %{
      Process.get({__MODULE__, socket})
      | last_compressed: compressed
    })

    {if(op == 0x1, do: :text, else: :binary), data}
  end

  defp close_frame(<<>>), do: {:close, nil, ""}
  defp close_frame(<<code::16, reason::binary>>), do: {:close, code, reason}

  # Server frames are never masked (RFC 6455 §5.1).
  defp recv_frame(socket, deadline) do
    %{buffer: buffer} = state = Process.get({__MODULE__, socket})

    case parse(buffer) do
      {:ok, frame, rest} ->
        Process.put({__MODULE__, socket}, %{state | buffer: rest})
        frame

      :more ->
        wait = max(deadline - System.monotonic_time(:millisecond), 0)

        case :gen_tcp.recv(socket, 0, wait) do
          {:ok, data} ->
            Process.put({__MODULE__, socket}, %{state | buffer: buffer <> data})
            recv_frame(socket, deadline)

          {:error, :closed} ->
            :closed

          {:error, :timeout} ->
            {:error, :timeout}
        end
    end
  end

  defp parse(<<fin::1, rsv1::1, _::2, opcode::4, 0::1, len::7, rest::binary>>) do
    with {len, rest} when is_integer(len) <- payload_length(len, rest),
         <<payload::binary-size(len), rest::binary>> <- rest do
      {:ok, {:frame, fin, rsv1, opcode, payload}, rest}
    else
      _ -> :more
    end
  end

  defp parse(<<_::8, 1::1, _::bits>>), do: raise("the server masked a frame")
  defp parse(_), do: :more

  defp payload_length(126, <<n::16, rest::binary>>), do: {n, rest}
  defp payload_length(127, <<n::64, rest::binary>>), do: {n, rest}
  defp payload_length(n, rest) when n < 126, do: {n, rest}
  defp payload_length(_, _), do: :more

  defp mask(payload, mask) do
    size = byte_size(payload)
    key = :binary.copy(mask, div(size, 4) + 1) |> binary_part(0, size)
    :crypto.exor(payload, key)
  end

  # permessage-deflate (RFC 7692): a raw deflate stream per direction, kept
  # across messages unless the server said server_no_context_takeover.
  defp inflater(headers) do
    case headers["sec-websocket-extensions"] do
      nil ->
        nil

      ext ->
        true = ext =~ "permessage-deflate"
        z = :zlib.open()
        :ok = :zlib.inflateInit(z, -15)
        %{z: z, reset: ext =~ "server_no_context_takeover"}
    end
  end

  defp inflate(socket, data) do
    %{inflate: %{z: z, reset: reset}} = Process.get({__MODULE__, socket})
    out = z |> :zlib.inflate(data <> <<0, 0, 0xFF, 0xFF>>) |> IO.iodata_to_binary()
    if reset, do: :zlib.inflateReset(z)
    out
  end

  defp read_head(socket, acc) do
    case String.split(acc, "\r\n\r\n", parts: 2) do
      [head, rest] ->
        {status, headers} = FerryTest.HTTP.parse_head(head)
        {status, headers, rest}

      [_] ->
        {:ok, data} = :gen_tcp.recv(socket, 0, @timeout)
        read_head(socket, acc <> data)
    end
  end

  defp read_body(socket, headers, acc) do
    length = String.to_integer(headers["content-length"] || "0")

    if byte_size(acc) >= length do
      binary_part(acc, 0, length)
    else
      {:ok, data} = :gen_tcp.recv(socket, 0, @timeout)
      read_body(socket, headers, acc <> data)
    end
  end

  @doc false
  # Whether the last message recv/2 returned came compressed (RSV1 set):
  # for the tests that check permessage-deflate is really on.
  def last_compressed?(%__MODULE__{socket: socket}),
    do: Map.get(Process.get({__MODULE__, socket}), :last_compressed, false)
end
