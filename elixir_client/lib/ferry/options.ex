defmodule Ferry.Options do
  # The one place the Elixir-side options are checked and turned into the
  # option map of the Erlang API. Keys the Erlang app or the Rust program
  # own are checked by them (ferry:child_spec/2 validates before anything
  # starts); their errors come back here to become ArgumentErrors.
  @moduledoc false

  # Elixir's default port, as Bandit's and Phoenix's (the Erlang API's is
  # 8080, ferry_opts:defaults/0).
  @default_port 4000

  @doc false
  @spec default_port() :: :inet.port_number()
  def default_port, do: @default_port

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
      |> Keyword.replace_lazy(:tls, &tls_option/1)
      |> Map.new()
      |> Map.put_new(:port, @default_port)
      |> Map.put(:handler, router)

    {name, erl_opts}
  end

  # `tls:` as a keyword list (`sni_hosts:` a list of `{name, keyword}`)
  # becomes the map the Erlang API takes; anything else goes on as it is,
  # for the Erlang side to refuse.
  defp tls_option(tls) when is_list(tls) do
    if Keyword.keyword?(tls) do
      Map.new(tls, fn
        {:sni_hosts, hosts} when is_list(hosts) ->
          {:sni_hosts, Enum.map(hosts, fn {name, o} when is_list(o) -> {name, Map.new(o)}; other -> other end)}

        pair ->
          pair
      end)
    else
      tls
    end
  end

  defp tls_option(tls), do: tls

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
  # What is wrong, for an ArgumentError: an unknown key (and the keys there
  # are) reads apart from a bad value (and what it must be).
  @spec describe_error(term(), keyword() | map()) :: String.t()
  def describe_error({:bad_option, key}, opts) do
    opts = Map.new(opts)

    cond do
      key in [:handler, :routes] or key not in :ferry_opts.keys() ->
        "unknown Ferry option #{inspect(key)}; the options are " <>
          Enum.map_join(elixir_keys(), ", ", &inspect/1)

      Map.has_key?(opts, key) ->
        "bad value for Ferry option #{inspect(key)}: #{inspect(opts[key])}; it " <>
          List.to_string(:ferry_opts.allowed(key))

      true ->
        "bad value for Ferry option #{inspect(key)}: it " <> List.to_string(:ferry_opts.allowed(key))
    end
  end

  def describe_error({:error, reason}, opts), do: describe_error(reason, opts)
  def describe_error(reason, _opts), do: "bad Ferry options: #{inspect(reason)}"

  defp elixir_keys, do: Enum.sort([:name, :router | :ferry_opts.keys() -- [:handler, :routes]])
end
