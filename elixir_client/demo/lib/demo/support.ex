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
