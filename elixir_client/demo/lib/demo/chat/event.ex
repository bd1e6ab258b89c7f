defmodule Demo.Chat.Event do
  @moduledoc """
  What the chat sends to its pages: one JSON object per WebSocket text
  message, with a `type`.

      Demo.Chat.Event.message("ada", "hi") #=> ~s({"at":"…","name":"ada","text":"hi","type":"message"})
  """

  @doc "You are `name` in `room`: the first message a socket gets."
  @spec welcome(String.t(), String.t()) :: binary()
  def welcome(room, name), do: encode(%{type: "welcome", room: room, name: name})

  @doc "`name` said `text`."
  @spec message(String.t(), String.t()) :: binary()
  def message(name, text), do: encode(%{type: "message", name: name, text: text, at: now()})

  @doc "`name` came in."
  @spec join(String.t()) :: binary()
  def join(name), do: encode(%{type: "join", name: name, at: now()})

  @doc "`name` went away."
  @spec leave(String.t()) :: binary()
  def leave(name), do: encode(%{type: "leave", name: name, at: now()})

  @doc "The room's members; a page keeps the list of the highest `version`."
  @spec members([String.t()], non_neg_integer()) :: binary()
  def members(names, version), do: encode(%{type: "members", members: names, version: version})

  defp encode(map), do: Ferry.JSON.encode!(map)
  defp now, do: Demo.Clock.now()
end
