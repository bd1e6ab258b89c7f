defmodule Demo.Params do
  @moduledoc """
  Query parameters of the demo routes.

      Demo.Params.int(%{"n" => "5"}, "n", 10, 1..100) #=> 5
  """

  @doc "The integer `key` of `params`, `default` when absent or not in `range`."
  @spec int(map(), binary(), integer(), Range.t()) :: integer()
  def int(params, key, default, range) do
    with value when is_binary(value) <- Map.get(params, key),
         {n, ""} <- Integer.parse(value),
         true <- n in range do
      n
    else
      _ -> default
    end
  end
end

defmodule Demo.Clock do
  @moduledoc """
  The time shown by the streaming demos.

      Demo.Clock.now() #=> "2026-01-01T12:00:00.123Z"
  """

  @doc "The current UTC time, ISO 8601, milliseconds."
  @spec now() :: String.t()
  def now, do: DateTime.utc_now() |> DateTime.truncate(:millisecond) |> DateTime.to_iso8601()
end

defmodule Demo.Json do
  @moduledoc """
  Just enough JSON for `/_ferry/info` (Elixir 1.14 has no JSON module and
  the demo takes no dependency).

      Demo.Json.encode(%{requests: 3}) #=> ~s({"requests":3})
  """

  @doc "Encodes maps, lists, tuples (as lists), numbers, booleans, nil, atoms and binaries."
  @spec encode(term()) :: iodata()
  def encode(map) when is_map(map) do
    fields =
      map |> Enum.sort() |> Enum.map(fn {k, v} -> [string(to_string(k)), ?:, encode(v)] end)

    [?{, Enum.intersperse(fields, ?,), ?}]
  end

  def encode(list) when is_list(list),
    do: [?[, Enum.intersperse(Enum.map(list, &encode/1), ?,), ?]]

  def encode(tuple) when is_tuple(tuple), do: encode(Tuple.to_list(tuple))
  def encode(n) when is_number(n), do: to_string(n)
  def encode(nil), do: "null"
  def encode(b) when is_boolean(b), do: to_string(b)
  def encode(atom) when is_atom(atom), do: string(Atom.to_string(atom))
  def encode(binary) when is_binary(binary), do: string(binary)
  def encode(other), do: string(inspect(other))

  defp string(s), do: [?", for(<<c <- s>>, do: escape(c)), ?"]

  defp escape(?"), do: "\\\""
  defp escape(?\\), do: "\\\\"
  defp escape(c) when c < 0x20, do: :io_lib.format("\\u~4.16.0B", [c])
  defp escape(c), do: c
end
