defmodule Demo.Body do
  @moduledoc """
  The upload route of the demo: a body of any size read part by part.

      post "/upload", do: Demo.Body.digest(conn)
  """

  import Ferry.Conn

  @doc """
  Reads the body part by part and answers with its size and SHA-256, so an
  upload of any size runs in constant memory.
  """
  @spec digest(Ferry.Conn.t()) :: Ferry.Conn.t()
  def digest(conn) do
    {conn, size, sha} = digest(conn, 0, :crypto.hash_init(:sha256))
    send_resp(conn, 200, "received #{size} bytes, sha256 #{Base.encode16(sha, case: :lower)}\n")
  end

  defp digest(conn, size, hash) do
    case read_body(conn) do
      {:more, data, conn} ->
        digest(conn, size + byte_size(data), :crypto.hash_update(hash, data))

      {:ok, data, conn} ->
        {conn, size + byte_size(data), :crypto.hash_final(:crypto.hash_update(hash, data))}
    end
  end
end
