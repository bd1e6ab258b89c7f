defmodule Ferry.Conn.Unfetched do
  @moduledoc """
  What `conn.cookies`, `conn.req_cookies` and `conn.body_params` hold until
  they are fetched (`Ferry.Conn.fetch_cookies/2`, `Ferry.Parsers`), as
  `Plug.Conn.Unfetched` does. Reading a key of it raises, saying what to
  call first, instead of answering `nil` as if the request had none.
  """

  @behaviour Access

  defstruct [:aspect]

  @type t :: %__MODULE__{aspect: atom()}

  @impl Access
  def fetch(%__MODULE__{aspect: aspect}, key), do: raise_unfetched(aspect, key)

  @impl Access
  def get_and_update(%__MODULE__{aspect: aspect}, key, _fun), do: raise_unfetched(aspect, key)

  @impl Access
  def pop(%__MODULE__{aspect: aspect}, key), do: raise_unfetched(aspect, key)

  defp raise_unfetched(aspect, key) do
    how =
      case aspect do
        :body_params -> "plug Ferry.Parsers in the router first"
        _ -> "call fetch_cookies(conn) (or plug :fetch_cookies) first"
      end

    raise ArgumentError,
          "conn.#{aspect}[#{inspect(key)}]: conn.#{aspect} were not fetched; #{how}"
  end
end
