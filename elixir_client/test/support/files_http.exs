defmodule FerryTest.FilesHTTP do
  @moduledoc false
  # One raw request per connection, closed after the answer (so bodies
  # without a length end with it), parsed into {status, headers, body}:
  # what the static and multipart tests need to see exactly.

  @doc false
  def request(port, method, path, headers \\ [], body \\ "") do
    head = [
      method,
      " ",
      path,
      " HTTP/1.1\r\nhost: x\r\nconnection: close\r\n",
      for({k, v} <- headers, do: [k, ": ", v, "\r\n"]),
      if(body == "",
        do: [],
        else: ["content-length: ", Integer.to_string(IO.iodata_length(body)), "\r\n"]
      ),
      "\r\n"
    ]

    {:ok, socket} = :gen_tcp.connect(~c"127.0.0.1", port, [:binary, active: false], 10_000)
    :ok = :gen_tcp.send(socket, [head, body])
    data = recv_all(socket, [])
    :gen_tcp.close(socket)
    parse(data)
  end

  defp recv_all(socket, acc) do
    case :gen_tcp.recv(socket, 0, 30_000) do
      {:ok, data} -> recv_all(socket, [acc | data])
      {:error, :closed} -> IO.iodata_to_binary(acc)
    end
  end

  defp parse(data) do
    [head, body] = String.split(data, "\r\n\r\n", parts: 2)
    {status, headers} = FerryTest.HTTP.parse_head(head)

    body =
      if headers["transfer-encoding"] == "chunked", do: FerryTest.HTTP.dechunk(body), else: body

    {status, headers, body}
  end

  @doc false
  # A multipart/form-data body with boundary "B": {name, value} fields and
  # {name, filename, data} files.
  def multipart(parts) do
    [
      for part <- parts do
        case part do
          {name, value} ->
            ["--B\r\ncontent-disposition: form-data; name=\"", name, "\"\r\n\r\n", value, "\r\n"]

          {name, filename, data} ->
            [
              "--B\r\ncontent-disposition: form-data; name=\"",
              name,
              "\"; filename=\"",
              filename,
              "\"\r\ncontent-type: application/octet-stream\r\n\r\n",
              data,
              "\r\n"
            ]
        end
      end,
      "--B--\r\n"
    ]
  end
end
