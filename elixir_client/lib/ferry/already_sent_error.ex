defmodule Ferry.AlreadySentError do
  @moduledoc """
  Raised when a route tries to answer a request twice, or to set a header
  after the response head went out.

      conn |> send_resp(200, "a") |> send_resp(200, "b") # raises
  """
  defexception message: "the response was already sent"
end
