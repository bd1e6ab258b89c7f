defmodule Demo.Download do
  @moduledoc """
  `GET /download?bytes=N`: N bytes from the BEAM's memory, with a
  `content-length`, to see how fast bytes cross from the VM to a client.

      curl -o /dev/null 'http://localhost:4000/download?bytes=1073741824'
  """

  import Ferry.Conn

  @block_size 1_048_576

  @doc "Answers with `bytes` bytes: one 1 MiB block, referenced again and again."
  @spec send(Ferry.Conn.t(), non_neg_integer()) :: Ferry.Conn.t()
  def send(conn, bytes) do
    block = :binary.copy("ferry\n", div(@block_size, 6) + 1) |> binary_part(0, @block_size)
    # iodata that names the same block many times: no N-byte binary is
    # ever built, and send_resp/3 streams it under flow control.
    body = [
      List.duplicate(block, div(bytes, @block_size)),
      binary_part(block, 0, rem(bytes, @block_size))
    ]

    conn
    |> put_resp_header("content-type", "application/octet-stream")
    |> send_resp(200, body)
  end
end
