defmodule Ferry.Conn.Cookies do
  # The cookie half of Ferry.Conn: request cookies read, and response
  # cookies turned into set-cookie headers, both by the Erlang ferry_cookie
  # (one set of rules for Erlang and Elixir). Plug's option names and
  # resp_cookies shape (%{name => %{value: v, ...opts}}) are kept.
  @moduledoc false

  @options [:domain, :max_age, :path, :http_only, :secure, :same_site, :extra]

  @doc false
  # Every cookie of every cookie header; the first of a name wins, as a
  # client sends the most specific one first (RFC 6265 5.4).
  @spec decode([{binary(), binary()}]) :: %{optional(binary()) => binary()}
  def decode(headers) do
    for {"cookie", field} <- headers,
        {name, value} <- :ferry_cookie.parse(field),
        reduce: %{} do
      acc -> Map.put_new(acc, name, value)
    end
  end

  @doc false
  # Checks a cookie now, so a bad one raises where it is set, not where the
  # response goes out; returns what resp_cookies keeps.
  @spec check!(binary(), binary(), keyword()) :: map()
  def check!(name, value, opts) when is_binary(name) and is_binary(value) and is_list(opts) do
    for {key, _} <- opts, key in [:sign, :encrypt, :signed, :encrypted] do
      raise ArgumentError,
            "put_resp_cookie: #{inspect(key)} is not supported: Ferry has no secret_key_base; " <>
              "sign the value yourself (e.g. :crypto.mac/4) before setting it"
    end

    cookie = Map.new(opts) |> Map.put(:value, value)
    _ = header(name, cookie)
    cookie
  end

  def check!(name, value, opts) do
    raise ArgumentError,
          "put_resp_cookie takes a binary name and value and a keyword list, got: " <>
            "#{inspect(name)}, #{inspect(value)}, #{inspect(opts)}"
  end

  @doc false
  @spec headers(%{optional(binary()) => map()}) :: [{binary(), binary()}]
  def headers(cookies) do
    for {name, cookie} <- Enum.sort(cookies), do: {"set-cookie", header(name, cookie)}
  end

  defp header(name, %{value: value} = cookie) do
    opts = for {key, v} <- cookie, key != :value, into: %{}, do: option(key, v)
    :ferry_cookie.setcookie(name, value, opts)
  rescue
    error in ErlangError ->
      case error.original do
        {:ferry, :bad_cookie, why} -> raise ArgumentError, describe(name, why)
        _ -> reraise error, __STACKTRACE__
      end
  end

  # Plug writes same_site as "Lax"; ferry_cookie takes :lax.
  defp option(:same_site, value) when is_binary(value) do
    case String.downcase(value) do
      "strict" ->
        {:same_site, :strict}

      "lax" ->
        {:same_site, :lax}

      "none" ->
        {:same_site, :none}

      _ ->
        raise ArgumentError,
              "cookie :same_site must be \"Strict\", \"Lax\" or \"None\", got: #{inspect(value)}"
    end
  end

  # Plug's path: nil drops the attribute; ferry_cookie says undefined.
  defp option(:path, nil), do: {:path, :undefined}
  defp option(key, value) when key in @options, do: {key, value}

  defp option(key, _value) do
    raise ArgumentError,
          "unknown cookie option #{inspect(key)}; the options are #{inspect(@options)}"
  end

  defp describe(name, {:name, _}),
    do: "cookie name #{inspect(name)} is not a token (RFC 6265 4.1.1)"

  defp describe(name, {:value, _, value}),
    do:
      "cookie #{inspect(name)}: value #{inspect(value)} may not hold spaces, \", \\, \",\", \";\" " <>
        "or control characters (RFC 6265 4.1.1); encode it first, e.g. with Base.url_encode64/2"

  defp describe(name, {:option, key, value}),
    do: "cookie #{inspect(name)}: bad value for #{inspect(key)}: #{inspect(value)}"

  defp describe(name, why), do: "cookie #{inspect(name)}: #{inspect(why)}"
end
