defmodule Ferry.Parsers.URLENCODED do
  @moduledoc """
  The `:urlencoded` parser of `Ferry.Parsers`:
  `application/x-www-form-urlencoded` bodies, decoded by the rules of query
  strings (`Ferry.Conn.Query`: `a[b]=1` nests, UTF-8 required).
  """
  @behaviour Ferry.Parsers

  @impl true
  def init(opts), do: opts

  @impl true
  def parse(conn, "application", "x-www-form-urlencoded", _params, opts) do
    with {:ok, body, conn} <- Ferry.Parsers.read(conn, opts) do
      {:ok, decode(body), conn}
    end
  end

  def parse(conn, _type, _subtype, _params, _opts), do: {:next, conn}

  defp decode(body) do
    Ferry.Conn.Query.decode(body)
  rescue
    error in Ferry.Conn.InvalidQueryError ->
      reraise Ferry.Parsers.ParseError,
              [
                message:
                  "malformed urlencoded body: " <>
                    String.replace(error.message, "query string", "body")
              ],
              __STACKTRACE__
  end
end
