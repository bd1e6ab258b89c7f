defmodule Demo.Chat do
  @moduledoc """
  The chat of the demo: `GET /chat` is one HTML page (no build step) where
  people pick a name and a room and talk; it opens a WebSocket to
  `/ws/chat?room=…&name=…`, run by `Demo.Chat.Socket`; `Demo.Chat.Rooms`
  keeps who is where.

      get "/chat", do: {200, [{"content-type", "text/html; charset=utf-8"}], Demo.Chat.page()}
  """

  @page_path Path.join(__DIR__, "chat/chat.html")
  @external_resource @page_path
  @page File.read!(@page_path)

  @max_length 24

  @doc "The chat page."
  @spec page() :: binary()
  def page, do: @page

  @doc """
  The room and name of a `/ws/chat` request's query: trimmed, 1 to
  #{@max_length} characters of printable UTF-8 each.

      Demo.Chat.params(%{"room" => "lobby", "name" => " ada "}) #=> {:ok, "lobby", "ada"}
  """
  @spec params(map()) :: {:ok, String.t(), String.t()} | :error
  def params(params) do
    with {:ok, room} <- field(params, "room"),
         {:ok, name} <- field(params, "name") do
      {:ok, room, name}
    end
  end

  defp field(params, key) do
    with value when is_binary(value) <- Map.get(params, key),
         true <- String.printable?(value),
         value = String.trim(value),
         length when length in 1..@max_length <- String.length(value),
         false <- value =~ ~r/[\x00-\x1f\x7f]/ do
      {:ok, value}
    else
      _ -> :error
    end
  end
end
