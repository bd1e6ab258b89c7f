defmodule Ferry.Parsers do
  @moduledoc """
  Reads request bodies into `conn.body_params` (and `conn.params`), as
  `Plug.Parsers` does; a plug of a `Ferry.Router` pipeline:

      plug Ferry.Parsers, parsers: [:urlencoded, :json], pass: ["text/*"], length: 1_000_000

  Options:

    * `:parsers` (required) — in the order tried: `:urlencoded`
      (`application/x-www-form-urlencoded`, decoded as query strings are,
      `Ferry.Conn.Query`), `:json` (`application/json` and
      `application/*+json`), or a module of this behaviour.
    * `:pass` — content types let through unread when no parser takes
      them (`"*/*"`, `"text/*"`, `"text/plain"`); any other gets 415.
      Defaults to `[]`.
    * `:length` — the most bytes a parser reads; a larger body gets 413.
      Defaults to 8_000_000 (Plug's default). The listener's `max_body`
      (docs/OPTIONS.md) refuses larger bodies before any route runs.
    * `:json_decoder` — a module with `decode!/1`. Defaults to
      `Ferry.JSON`; `Jason` works too.

  Only `POST`, `PUT`, `PATCH` and `DELETE` bodies are read, as in Plug;
  for other methods, and requests without `content-type`,
  `body_params` is `%{}`. A JSON body that is not an object is put under
  `"_json"`. The errors are exceptions with a `plug_status`, which the
  router answers with that status and the message, without logging an
  error (the client's fault): `Ferry.Parsers.RequestTooLargeError` (413),
  `Ferry.Parsers.ParseError` (400), `Ferry.Parsers.UnsupportedMediaTypeError`
  (415).

  A parser module has Plug's parser callbacks: `init/1`, and
  `parse(conn, type, subtype, params, opts)` returning `{:ok,
  body_params, conn}`, `{:next, conn}` (not mine) or `{:error,
  :too_large, conn}`.
  """

  alias Ferry.Conn

  @callback init(keyword()) :: term()
  @callback parse(Conn.t(), binary(), binary(), %{optional(binary()) => binary()}, term()) ::
              {:ok, Conn.params(), Conn.t()} | {:next, Conn.t()} | {:error, :too_large, Conn.t()}

  @default_length 8_000_000
  @methods ~w(POST PUT PATCH DELETE)
  @builtin %{urlencoded: Ferry.Parsers.URLENCODED, json: Ferry.Parsers.JSON}

  defmodule RequestTooLargeError do
    @moduledoc "A body over the parsers' `:length`: the client gets 413."
    defexception message: "the request body is too large", plug_status: 413
  end

  defmodule ParseError do
    @moduledoc "A body that is not what its content type says: the client gets 400."
    defexception message: "the request body could not be parsed", plug_status: 400
  end

  defmodule UnsupportedMediaTypeError do
    @moduledoc "A content type no parser takes and `:pass` does not let by: 415."
    defexception message: "unsupported media type", plug_status: 415
  end

  @doc false
  def init(opts) do
    unless Keyword.keyword?(opts) and is_list(opts[:parsers]) do
      raise ArgumentError,
            "Ferry.Parsers needs parsers: a list such as [:urlencoded, :json], got: #{inspect(opts)}"
    end

    opts = Keyword.put_new(opts, :length, @default_length)
    {parsers, opts} = Keyword.pop(opts, :parsers)
    {pass, opts} = Keyword.pop(opts, :pass, [])

    unless is_integer(opts[:length]) and opts[:length] >= 0 do
      raise ArgumentError,
            "Ferry.Parsers :length must be a number of bytes, got: #{inspect(opts[:length])}"
    end

    {Enum.map(parsers, &init_parser(&1, opts)), pass}
  end

  defp init_parser(name, opts) when is_map_key(@builtin, name) do
    module = Map.fetch!(@builtin, name)
    {module, module.init(opts)}
  end

  defp init_parser(module, opts) when is_atom(module) do
    unless Code.ensure_loaded?(module) and function_exported?(module, :parse, 5) do
      raise ArgumentError,
            "Ferry.Parsers: #{inspect(module)} is neither :urlencoded, :json nor a module with parse/5"
    end

    {module, module.init(opts)}
  end

  @doc false
  def call(%Conn{body_params: %Conn.Unfetched{}, method: method} = conn, {parsers, pass})
      when method in @methods do
    case Conn.get_req_header(conn, "content-type") do
      [] -> put_params(conn, %{})
      [content_type | _] -> parse(conn, content_type, parsers, pass)
    end
  end

  def call(%Conn{body_params: %Conn.Unfetched{}} = conn, _opts), do: put_params(conn, %{})
  def call(%Conn{} = conn, _opts), do: conn

  defp parse(conn, content_type, parsers, pass) do
    case media_type(content_type) do
      {:ok, type, subtype, params} ->
        try_parsers(conn, type, subtype, params, parsers, pass)

      :error ->
        raise UnsupportedMediaTypeError,
              "content-type #{inspect(content_type)} is not a media type"
    end
  end

  defp try_parsers(conn, type, subtype, params, [{parser, opts} | rest], pass) do
    case parser.parse(conn, type, subtype, params, opts) do
      {:ok, body_params, conn} ->
        put_params(conn, body_params)

      {:next, conn} ->
        try_parsers(conn, type, subtype, params, rest, pass)

      {:error, :too_large, _conn} ->
        raise RequestTooLargeError,
              "the #{type}/#{subtype} body is over the #{length_of(opts)} bytes the parser reads"
    end
  end

  defp try_parsers(conn, type, subtype, _params, [], pass) do
    if Enum.any?(pass, &passes?(&1, type, subtype)) do
      put_params(conn, %{})
    else
      raise UnsupportedMediaTypeError,
            "no parser takes content-type #{type}/#{subtype} (Ferry.Parsers :parsers and :pass)"
    end
  end

  defp length_of(opts) when is_list(opts), do: Keyword.get(opts, :length, @default_length)
  defp length_of(_opts), do: "allowed"

  defp passes?("*/*", _type, _subtype), do: true

  defp passes?(pattern, type, subtype) do
    case String.split(String.downcase(pattern), "/", parts: 2) do
      [^type, "*"] -> true
      [^type, ^subtype] -> true
      _ -> false
    end
  end

  defp put_params(conn, body_params), do: Conn.merge_params(%{conn | body_params: body_params})

  @doc """
  Splits a content type into `{:ok, type, subtype, params}`, lowercase
  except parameter values; `:error` if it is not `type/subtype`.

      {:ok, "application", "json", %{"charset" => "utf-8"}} =
        Ferry.Parsers.media_type("Application/JSON; charset=utf-8")
  """
  @spec media_type(binary()) ::
          {:ok, binary(), binary(), %{optional(binary()) => binary()}} | :error
  def media_type(content_type) do
    [media | params] = String.split(content_type, ";")

    with [type, subtype] <- media |> String.trim() |> String.downcase() |> String.split("/"),
         true <- token?(type) and token?(subtype) do
      {:ok, type, subtype, Map.new(params, &param/1)}
    else
      _ -> :error
    end
  end

  defp param(pair) do
    case String.split(pair, "=", parts: 2) do
      [key, value] ->
        {key |> String.trim() |> String.downcase(), value |> String.trim() |> String.trim("\"")}

      [key] ->
        {key |> String.trim() |> String.downcase(), ""}
    end
  end

  defp token?(text), do: text =~ ~r/\A[!#$%&'*+\-.^_`|~0-9a-z]+\z/

  @doc false
  # For the parsers: the whole body, or {:error, :too_large, conn}.
  @spec read(Conn.t(), keyword()) :: {:ok, binary(), Conn.t()} | {:error, :too_large, Conn.t()}
  def read(conn, opts) do
    case Conn.read_full_body(conn, Keyword.fetch!(opts, :length)) do
      {:ok, body, conn} -> {:ok, body, conn}
      {:error, :too_large} -> {:error, :too_large, conn}
    end
  end
end
