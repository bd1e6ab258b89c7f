defmodule Ferry.Options do
  # The one place the Elixir-side options are checked and turned into the
  # option map of the Erlang API. Keys the Erlang app or the Rust program
  # own are checked by them (ferry:child_spec/2 validates before anything
  # starts); their errors come back here to become ArgumentErrors.
  @moduledoc false

  @doc false
  @spec validate!(keyword()) :: {atom(), map()}
  def validate!(opts) do
    unless Keyword.keyword?(opts) do
      raise ArgumentError, "Ferry expects a keyword list of options, got: #{inspect(opts)}"
    end

    case Enum.find(Enum.frequencies_by(opts, &elem(&1, 0)), fn {_key, count} -> count > 1 end) do
      {key, _} -> raise ArgumentError, "Ferry option #{inspect(key)} is given more than once"
      nil -> :ok
    end

    for key <- [:handler, :routes], Keyword.has_key?(opts, key) do
      raise ArgumentError,
            "Ferry takes router: (a Ferry.Router), not #{inspect(key)} (an option of the Erlang API)"
    end

    {name, opts} = Keyword.pop(opts, :name)
    {router, opts} = Keyword.pop(opts, :router)

    unless is_atom(name) and name not in [nil, true, false] do
      raise ArgumentError, "Ferry needs name: an atom naming the listener, got: #{inspect(name)}"
    end

    check_router!(router)

    erl_opts =
      opts
      |> Map.new()
      |> Map.put(:handler, router)

    {name, erl_opts}
  end

  defp check_router!(router) do
    cond do
      not is_atom(router) or router in [nil, true, false] ->
        raise ArgumentError,
              "Ferry needs router: a module with handle/1 (a Ferry.Router), got: #{inspect(router)}"

      not Code.ensure_loaded?(router) ->
        raise ArgumentError, "Ferry router #{inspect(router)} is not an available module"

      not function_exported?(router, :handle, 1) ->
        raise ArgumentError,
              "Ferry router #{inspect(router)} does not export handle/1 (use Ferry.Router)"

      true ->
        :ok
    end
  end

  @doc false
  @spec describe_error(term()) :: String.t()
  def describe_error({:bad_option, key}),
    do:
      "unknown Ferry option or bad value for #{inspect(key)} (see the Ferry.option() typedoc and docs/OPTIONS.md)"

  def describe_error({:error, reason}), do: describe_error(reason)
  def describe_error(reason), do: "bad Ferry options: #{inspect(reason)}"
end
