defmodule Ferry.Conn.Query do
  @moduledoc """
  Query strings and `application/x-www-form-urlencoded` bodies decoded into
  params, as `Plug.Conn.Query.decode/1` does: `a=1&b[c]=2&d[]=3&d[]=4` is
  `%{"a" => "1", "b" => %{"c" => "2"}, "d" => ["3", "4"]}`.

  Pairs are decoded by the rules the Erlang side uses too (`ferry_qs`,
  docs/ERLANG_API.md "Paths and query strings"): `+` is a space, `%` must be
  followed by two hex digits, keys and values must be UTF-8, empty pairs
  and empty keys are skipped, a key alone has the value `""`. Then keys
  nest: `k[x]` puts `x` in the map `k`, a trailing `k[]` appends to the
  list `k`; a later value of a key replaces an earlier one. A key with
  unbalanced brackets (`a[b`) is taken as it is. A query that breaks the
  rules, or nests keys more than 32 levels deep, raises
  `Ferry.Conn.InvalidQueryError` (status 400).
  """

  @max_depth 32

  @doc "Decodes a query string (or urlencoded body) into params."
  @spec decode(binary()) :: %{optional(binary()) => term()}
  def decode(""), do: %{}

  def decode(query) when is_binary(query) do
    case :ferry_qs.parse(query) do
      {:ok, pairs} ->
        pairs
        |> Enum.reduce(%{}, fn {key, value}, acc -> put(acc, path(key), value(value)) end)
        |> reverse_lists()

      {:error, why} ->
        raise Ferry.Conn.InvalidQueryError, :ferry_qs.describe({:query, why})
    end
  end

  defp value(true), do: ""
  defp value(value), do: value

  # "a[b][]" -> ["a", "b", :list]; anything not of that shape is one key.
  defp path(key) do
    case Regex.run(~r/\A([^\[\]]+)((?:\[[^\[\]]*\])+)\z/, key) do
      [_, head, brackets] ->
        inner = Regex.scan(~r/\[([^\[\]]*)\]/, brackets, capture: :all_but_first)
        segments = Enum.map(inner, fn [segment] -> segment end)

        # Each level costs a map: a body of `a[x][x][x]…` would cost many.
        if length(segments) > @max_depth do
          raise Ferry.Conn.InvalidQueryError,
                "the key #{inspect(binary_part(key, 0, 40))}… nests deeper than #{@max_depth} levels"
        end

        case Enum.split(segments, -1) do
          {init, [""]} -> if "" in init, do: [key], else: [head | init] ++ [:list]
          _ -> if "" in segments, do: [key], else: [head | segments]
        end

      nil ->
        [key]
    end
  end

  # Lists are built last value first, and turned round once at the end.
  defp put(map, [key], value), do: Map.put(map, key, value)

  defp put(map, [key, :list], value) do
    case map do
      %{^key => {:list, values}} -> Map.put(map, key, {:list, [value | values]})
      _ -> Map.put(map, key, {:list, [value]})
    end
  end

  defp put(map, [key | rest], value) do
    inner =
      case map do
        %{^key => %{} = inner} -> inner
        _ -> %{}
      end

    Map.put(map, key, put(inner, rest, value))
  end

  defp reverse_lists(map) do
    Map.new(map, fn
      {key, {:list, values}} -> {key, Enum.reverse(values)}
      {key, %{} = inner} -> {key, reverse_lists(inner)}
      pair -> pair
    end)
  end
end

defmodule Ferry.Conn.InvalidQueryError do
  @moduledoc """
  A query string (or urlencoded body) that is not one: a `%` not followed
  by two hex digits, or bytes that do not decode to UTF-8. Its
  `plug_status` is 400: the client gets `400` with the message.
  """
  defexception message: "invalid query string", plug_status: 400
end

defmodule Ferry.Conn.MalformedURIError do
  @moduledoc """
  A request path with a `%` not followed by two hex digits. Its
  `plug_status` is 400, as for `Plug.Router.MalformedURIError`.
  """
  defexception message: "malformed request path", plug_status: 400
end
