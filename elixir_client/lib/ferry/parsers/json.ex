defmodule Ferry.Parsers.JSON do
  @moduledoc """
  The `:json` parser of `Ferry.Parsers`: `application/json` and
  `application/*+json` bodies, decoded by `:json_decoder` (`Ferry.JSON`
  unless given). A body that is not an object is put under `"_json"`; an
  empty body is `%{}`.
  """
  @behaviour Ferry.Parsers

  @impl true
  def init(opts) do
    decoder = Keyword.get(opts, :json_decoder, Ferry.JSON)

    unless Code.ensure_loaded?(decoder) and function_exported?(decoder, :decode!, 1) do
      raise ArgumentError, "Ferry.Parsers :json_decoder #{inspect(decoder)} has no decode!/1"
    end

    Keyword.put(opts, :json_decoder, decoder)
  end

  @impl true
  def parse(conn, "application", subtype, _params, opts) do
    if subtype == "json" or String.ends_with?(subtype, "+json"),
      do: decode(conn, opts),
      else: {:next, conn}
  end

  def parse(conn, _type, _subtype, _params, _opts), do: {:next, conn}

  defp decode(conn, opts) do
    with {:ok, body, conn} <- Ferry.Parsers.read(conn, opts) do
      {:ok, params(body, opts[:json_decoder]), conn}
    end
  end

  defp params("", _decoder), do: %{}

  defp params(body, decoder) do
    case decoder.decode!(body) do
      %{} = map -> map
      other -> %{"_json" => other}
    end
  rescue
    error ->
      reraise Ferry.Parsers.ParseError,
              [message: "malformed JSON body: " <> Exception.message(error)],
              __STACKTRACE__
  end
end
