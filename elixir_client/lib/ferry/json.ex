defmodule Ferry.JSON do
  @moduledoc """
  A small, strict JSON (RFC 8259) decoder and encoder, for `Ferry.Parsers`
  and for routes that answer JSON. Elixir 1.14 has no JSON module and Ferry
  takes no dependency; with Jason at hand, give `json_decoder: Jason` to
  `Ferry.Parsers` instead.

      {:ok, %{"a" => [1, 2.5, nil]}} = Ferry.JSON.decode(~s({"a": [1, 2.5, null]}))
      ~s({"ok":true}) = Ferry.JSON.encode!(%{ok: true})

  Decoding is strict: one value (any type, not only an object or array)
  and white space around it; no trailing commas, comments, single
  quotes, leading zeros, `NaN`; strings must be UTF-8 with no raw control
  character and no lone surrogate escape. Objects become maps with string
  keys (never atoms: the input is untrusted); a key given twice keeps its
  last value. Limits against hostile input: nesting at most 1000 deep,
  numbers at most 100 characters.
  Errors are `{:error, %Ferry.JSON.DecodeError{}}` saying where.

  Encoding takes maps (atom, string or number keys), lists, strings (UTF-8),
  numbers, `true`, `false`, `nil`, other atoms (as strings), and `Date`,
  `Time`, `NaiveDateTime`, `DateTime` (ISO 8601). Anything else raises
  `ArgumentError`: a tuple, a pid or another struct has no obvious JSON.
  Strings are escaped as RFC 8259 requires and no more (non-ASCII is
  written as UTF-8).
  """

  @max_depth 1000
  @max_number 100

  defmodule DecodeError do
    @moduledoc "Input that is not JSON: `position` is the byte offset where it went wrong."
    defexception [:message, :position]
  end

  @doc "Decodes one JSON text."
  @spec decode(binary()) :: {:ok, term()} | {:error, DecodeError.t()}
  def decode(text) when is_binary(text) do
    {value, rest} = value(skip_ws(text), text, 0)

    case skip_ws(rest) do
      "" -> {:ok, value}
      more -> fail(text, more, "unexpected data after the JSON value")
    end
  catch
    {:json_error, %DecodeError{} = error} -> {:error, error}
  end

  @doc "Decodes one JSON text; raises `Ferry.JSON.DecodeError`."
  @spec decode!(binary()) :: term()
  def decode!(text) do
    case decode(text) do
      {:ok, value} -> value
      {:error, error} -> raise error
    end
  end

  @doc "Encodes `term` as JSON iodata; raises `ArgumentError` for what has no JSON form."
  @spec encode_to_iodata!(term()) :: iodata()
  def encode_to_iodata!(term), do: encode(term)

  @doc "Encodes `term` as a JSON binary; raises `ArgumentError` for what has no JSON form."
  @spec encode!(term()) :: binary()
  def encode!(term), do: term |> encode() |> IO.iodata_to_binary()

  ## Decoding. Each step takes the rest of the input and returns
  ## {value, rest}; `text` is the whole input, for error positions.

  defp value(<<?{, rest::binary>>, text, depth),
    do: object(skip_ws(rest), text, deeper(depth, text, rest), %{})

  defp value(<<?[, rest::binary>>, text, depth),
    do: array(skip_ws(rest), text, deeper(depth, text, rest), [])

  defp value(<<?", rest::binary>>, text, _depth), do: string(rest, text, [])
  defp value(<<"true", rest::binary>>, _text, _depth), do: {true, rest}
  defp value(<<"false", rest::binary>>, _text, _depth), do: {false, rest}
  defp value(<<"null", rest::binary>>, _text, _depth), do: {nil, rest}

  defp value(<<c, _::binary>> = rest, text, _depth) when c == ?- or c in ?0..?9,
    do: number(rest, text)

  defp value("", text, _depth), do: fail(text, "", "unexpected end of input")
  defp value(rest, text, _depth), do: fail(text, rest, "unexpected character")

  defp deeper(depth, text, rest) when depth >= @max_depth,
    do: fail(text, rest, "nesting deeper than #{@max_depth}")

  defp deeper(depth, _text, _rest), do: depth + 1

  defp object(<<?}, rest::binary>>, _text, _depth, acc) when acc == %{}, do: {acc, rest}

  defp object(<<?", rest::binary>>, text, depth, acc) do
    {key, rest} = string(rest, text, [])

    case skip_ws(rest) do
      <<?:, rest::binary>> ->
        {value, rest} = value(skip_ws(rest), text, depth)
        acc = Map.put(acc, key, value)

        case skip_ws(rest) do
          <<?,, rest::binary>> -> object_key(skip_ws(rest), text, depth, acc)
          <<?}, rest::binary>> -> {acc, rest}
          rest -> fail(text, rest, "expected , or } in an object")
        end

      rest ->
        fail(text, rest, "expected : after an object key")
    end
  end

  defp object(rest, text, _depth, _acc), do: fail(text, rest, "expected a string key or }")

  # After a comma a key must follow: `{"a":1,}` is refused.
  defp object_key(<<?", _::binary>> = rest, text, depth, acc), do: object(rest, text, depth, acc)
  defp object_key(rest, text, _depth, _acc), do: fail(text, rest, "expected a string key")

  defp array(<<?], rest::binary>>, _text, _depth, []), do: {[], rest}

  defp array(rest, text, depth, acc) do
    {value, rest} = value(rest, text, depth)

    case skip_ws(rest) do
      <<?,, rest::binary>> -> array(skip_ws(rest), text, depth, [value | acc])
      <<?], rest::binary>> -> {Enum.reverse([value | acc]), rest}
      rest -> fail(text, rest, "expected , or ] in an array")
    end
  end

  # A run of plain characters is taken as one slice of the input.
  defp string(rest, text, acc) do
    case plain_run(rest, 0) do
      {:end, n} ->
        <<run::binary-size(n), ?", rest::binary>> = rest
        {IO.iodata_to_binary([acc | run]), rest}

      {:escape, n} ->
        <<run::binary-size(n), ?\\, rest::binary>> = rest
        {char, rest} = escape(rest, text)
        string(rest, text, [acc, run, char])

      {:bad, n, why} ->
        fail(text, binary_part(rest, n, byte_size(rest) - n), why)
    end
  end

  defp plain_run(bin, n) do
    case bin do
      <<_::binary-size(n), ?", _::binary>> ->
        {:end, n}

      <<_::binary-size(n), ?\\, _::binary>> ->
        {:escape, n}

      <<_::binary-size(n), c, _::binary>> when c < 0x20 ->
        {:bad, n, "control character in a string"}

      <<_::binary-size(n), c, _::binary>> when c < 0x80 ->
        plain_run(bin, n + 1)

      <<_::binary-size(n), c::utf8, _::binary>> ->
        plain_run(bin, n + byte_size(<<c::utf8>>))

      <<_::binary-size(n)>> ->
        {:bad, n, "unterminated string"}

      _ ->
        {:bad, n, "invalid UTF-8 in a string"}
    end
  end

  defp escape(<<?", rest::binary>>, _text), do: {?", rest}
  defp escape(<<?\\, rest::binary>>, _text), do: {?\\, rest}
  defp escape(<<?/, rest::binary>>, _text), do: {?/, rest}
  defp escape(<<?b, rest::binary>>, _text), do: {?\b, rest}
  defp escape(<<?f, rest::binary>>, _text), do: {?\f, rest}
  defp escape(<<?n, rest::binary>>, _text), do: {?\n, rest}
  defp escape(<<?r, rest::binary>>, _text), do: {?\r, rest}
  defp escape(<<?t, rest::binary>>, _text), do: {?\t, rest}

  defp escape(<<?u, rest::binary>> = at, text) do
    case hex4(rest) do
      {high, <<?\\, ?u, rest2::binary>>} when high in 0xD800..0xDBFF ->
        case hex4(rest2) do
          {low, rest3} when low in 0xDC00..0xDFFF ->
            code = 0x10000 + Bitwise.bsl(high - 0xD800, 10) + (low - 0xDC00)
            {<<code::utf8>>, rest3}

          _ ->
            fail(text, at, "lone surrogate in a \\u escape")
        end

      {code, _rest} when code in 0xD800..0xDFFF ->
        fail(text, at, "lone surrogate in a \\u escape")

      {code, rest} ->
        {<<code::utf8>>, rest}

      :error ->
        fail(text, at, "\\u needs four hex digits")
    end
  end

  defp escape(rest, text), do: fail(text, rest, "unknown escape in a string")

  defp hex4(<<digits::binary-size(4), rest::binary>>) do
    if digits =~ ~r/\A[0-9a-fA-F]{4}\z/,
      do: {String.to_integer(digits, 16), rest},
      else: :error
  end

  defp hex4(_), do: :error

  @number ~r/\A-?(?:0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?/

  defp number(rest, text) do
    prefix = binary_part(rest, 0, min(byte_size(rest), @max_number + 1))

    case Regex.run(@number, prefix, return: :index) do
      [{0, n} | _] when n > @max_number ->
        fail(text, rest, "number longer than #{@max_number} characters")

      [{0, n}] ->
        <<digits::binary-size(n), rest::binary>> = rest
        {String.to_integer(digits), rest}

      [{0, n} | parts] ->
        <<digits::binary-size(n), after_number::binary>> = rest
        {to_float(digits, parts, text, rest), after_number}

      nil ->
        fail(text, rest, "malformed number")
    end
  end

  # Erlang reads "1.5e3" but not "1e3": a missing fraction becomes ".0".
  defp to_float(digits, parts, text, at) do
    normal =
      case parts do
        [{-1, 0}, {e, _}] ->
          binary_part(digits, 0, e) <> ".0" <> binary_part(digits, e, byte_size(digits) - e)

        _ ->
          digits
      end

    :erlang.binary_to_float(normal)
  rescue
    ArgumentError -> fail(text, at, "number out of range")
  end

  defp skip_ws(<<c, rest::binary>>) when c in [?\s, ?\t, ?\n, ?\r], do: skip_ws(rest)
  defp skip_ws(rest), do: rest

  defp fail(text, rest, why) do
    position = byte_size(text) - byte_size(rest)

    throw(
      {:json_error,
       %DecodeError{position: position, message: "#{why} at byte #{position} of the JSON input"}}
    )
  end

  ## Encoding

  defp encode(nil), do: "null"
  defp encode(true), do: "true"
  defp encode(false), do: "false"
  defp encode(atom) when is_atom(atom), do: string_out(Atom.to_string(atom))
  defp encode(binary) when is_binary(binary), do: string_out(binary)
  defp encode(int) when is_integer(int), do: Integer.to_string(int)
  defp encode(float) when is_float(float), do: Float.to_string(float)

  defp encode(list) when is_list(list),
    do: [?[, list |> Enum.map(&encode/1) |> Enum.intersperse(?,), ?]]

  defp encode(%module{} = struct) when module in [Date, Time, NaiveDateTime, DateTime],
    do: string_out(module.to_iso8601(struct))

  defp encode(%module{}),
    do:
      raise(
        ArgumentError,
        "Ferry.JSON cannot encode a #{inspect(module)} struct; convert it to a map first"
      )

  defp encode(map) when is_map(map) do
    fields = Enum.map(map, fn {key, value} -> [string_out(key(key)), ?:, encode(value)] end)
    [?{, Enum.intersperse(fields, ?,), ?}]
  end

  defp encode(other), do: raise(ArgumentError, "Ferry.JSON cannot encode #{inspect(other)}")

  defp key(key) when is_binary(key), do: key
  defp key(key) when is_atom(key) or is_number(key), do: to_string(key)

  defp key(key),
    do: raise(ArgumentError, "Ferry.JSON cannot encode #{inspect(key)} as an object key")

  defp string_out(string) do
    unless String.valid?(string) do
      raise ArgumentError, "Ferry.JSON cannot encode #{inspect(string)}: it is not UTF-8"
    end

    [?", escape_out(string, string, 0, 0, []), ?"]
  end

  # Slices of the input between the characters that need an escape.
  defp escape_out(<<c, rest::binary>>, all, start, len, acc)
       when c < 0x20 or c == ?" or c == ?\\ do
    acc = [acc, binary_part(all, start, len) | escaped(c)]
    escape_out(rest, all, start + len + 1, 0, acc)
  end

  defp escape_out(<<_, rest::binary>>, all, start, len, acc),
    do: escape_out(rest, all, start, len + 1, acc)

  defp escape_out(<<>>, all, start, len, acc), do: [acc | binary_part(all, start, len)]

  defp escaped(?"), do: "\\\""
  defp escaped(?\\), do: "\\\\"
  defp escaped(?\n), do: "\\n"
  defp escaped(?\r), do: "\\r"
  defp escaped(?\t), do: "\\t"
  defp escaped(?\b), do: "\\b"
  defp escaped(?\f), do: "\\f"

  defp escaped(c),
    do: ["\\u00", Integer.to_string(div(c, 16), 16), Integer.to_string(rem(c, 16), 16)]
end
