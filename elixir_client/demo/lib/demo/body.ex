defmodule Demo.Body do
  @moduledoc """
  Reading request bodies in the demo: whole (with a cap) or part by part.

      {conn, body} = Demo.Body.read_all(conn, 1_000_000)
  """

  import Ferry.Conn

  @doc "Reads the whole body, at most `max` bytes of it (the rest is read and dropped)."
  @spec read_all(Ferry.Conn.t(), non_neg_integer()) :: {Ferry.Conn.t(), iodata()}
  def read_all(conn, max), do: read_all(conn, max, [], 0)

  defp read_all(conn, max, acc, size) do
    {tag, data, conn} = read_body(conn)
    keep = binary_part(data, 0, min(byte_size(data), max(max - size, 0)))
    acc = [acc | keep]

    case tag do
      :more -> read_all(conn, max, acc, size + byte_size(keep))
      :ok -> {conn, acc}
    end
  end

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
