defmodule DemoWebSocketTest do
  # The demo's WebSockets as its pages use them: the chat at /chat with its
  # socket at /ws/chat, and the echo socket at /ws/echo.
  use ExUnit.Case, async: false
  import FerryTest.HTTP
  alias FerryTest.WS

  setup do
    start_supervised!(Demo.Chat.Rooms)
    start_supervised!({Ferry, name: Demo.HTTP, port: 0, ip: {127, 0, 0, 1}, router: Demo.Router})
    %{port: Ferry.port_number(Demo.HTTP)}
  end

  defp chat!(port, room, name) do
    query = URI.encode_query(%{"room" => room, "name" => name})
    ws = WS.connect!(port, "/ws/chat?" <> query)
    # The socket joins the room's group before it registers, so the room's
    # announcement of it (published by Demo.Chat.Rooms) comes first.
    welcome = text_with(ws, ~s("type":"welcome"))
    assert welcome =~ ~s("name":#{json(name)},"room":#{json(room)},"type":"welcome")
    ws
  end

  defp json(term), do: Ferry.JSON.encode!(term)

  # The next text message containing `part`; others are skipped (member
  # lists come from the room and from the socket itself, in either order).
  defp text_with(ws, part) do
    {:text, text} = WS.recv_until(ws, &text_with?(&1, part))
    text
  end

  defp text_with?({:text, text}, part), do: text =~ part
  defp text_with?(_message, _part), do: false

  defp assert_members(ws, names), do: text_with(ws, ~s("members":#{json(names)},"type":"members"))
  defp next_message(ws), do: text_with(ws, ~s("type":"message"))

  test "the chat page is served, with the socket it talks to", %{port: port} do
    assert {200, headers, page} = request(:get, port, "/chat")
    assert headers["content-type"] == "text/html; charset=utf-8"
    assert page =~ "<title>Ferry chat</title>"
    assert page =~ "/ws/chat?"
  end

  test "a browser's index links the chat; curl's stays text", %{port: port} do
    assert {200, %{"content-type" => "text/html" <> _}, html} =
             request(:get, port, "/", [{"accept", "text/html,*/*"}])

    assert html =~ ~s(href="/chat")
    assert {200, %{"content-type" => "text/plain" <> _}, text} = request(:get, port, "/")
    assert text =~ "chat (WebSocket):   open http://127.0.0.1:#{port}/chat"
  end

  test "a chat socket needs a room and a name", %{port: port} do
    assert {:error, {400, _, body}} = WS.connect(port, "/ws/chat?room=lobby")
    assert body =~ "needs ?room="
    long = String.duplicate("x", 25)
    assert {:error, {400, _, _}} = WS.connect(port, "/ws/chat?room=lobby&name=" <> long)
    assert {:error, {400, _, _}} = WS.connect(port, "/ws/chat?room=lobby&name=%20%20")
  end

  test "two people in a room: the member list, a message, a leave", %{port: port} do
    ada = chat!(port, "lobby", "ada")
    assert_members(ada, ["ada"])
    bob = chat!(port, "lobby", "bob")
    assert_members(bob, ["ada", "bob"])
    # The room pushed the new list to ada when bob came in.
    assert_members(ada, ["ada", "bob"])
    assert Demo.Chat.Rooms.members("lobby") == ["ada", "bob"]

    # Someone in another room hears nothing of the lobby.
    carol = chat!(port, "den", "carol")

    :ok = WS.send_text(ada, "  hello bob  ")
    said = next_message(bob)
    assert said =~ ~s("name":"ada","text":"hello bob","type":"message")
    # Published to the whole room, the sender included.
    assert next_message(ada) == said

    :ok = WS.send_text(carol, "anyone in the den?")
    assert next_message(carol) =~ ~s("name":"carol","text":"anyone in the den?")

    # bob closes his page: ada is told, and the list shrinks.
    {:close, 1000, _} = WS.close(bob)

    assert text_with(ada, ~s("type":"leave")) =~ ~s("name":"bob")
    assert_members(ada, ["ada"])
    assert Demo.Chat.Rooms.members("lobby") == ["ada"]
  end

  test "a member whose connection dies is removed from the room", %{port: port} do
    ada = chat!(port, "attic", "ada")
    bob = chat!(port, "attic", "bob")
    assert_members(ada, ["ada", "bob"])
    :ok = :gen_tcp.close(bob.socket)
    assert_members(ada, ["ada"])
    assert eventually(fn -> Demo.Chat.Rooms.members("attic") == ["ada"] end)
  end

  test "a name already in the room is refused with close 4001", %{port: port} do
    _ada = chat!(port, "lobby", "ada")
    ws = WS.connect!(port, "/ws/chat?room=lobby&name=ada")
    assert {:close, 4001, reason} = WS.recv_until(ws, &match?({:close, _, _}, &1))
    assert reason =~ "taken"
    assert Demo.Chat.Rooms.members("lobby") == ["ada"]
  end

  test "/ws/echo sends back text and binary as received", %{port: port} do
    ws = WS.connect!(port, "/ws/echo")
    :ok = WS.send_text(ws, "héllo")
    assert {:text, "héllo"} = WS.recv(ws)
    :ok = WS.send_binary(ws, <<0, 1, 2, 255>>)
    assert {:binary, <<0, 1, 2, 255>>} = WS.recv(ws)
    assert {:close, 1000, _} = WS.close(ws)
  end

  test "/ws/echo compresses when the client offers permessage-deflate", %{port: port} do
    ws = WS.connect!(port, "/ws/echo", [{"sec-websocket-extensions", "permessage-deflate"}])
    assert ws.headers["sec-websocket-extensions"] =~ "permessage-deflate"
    text = String.duplicate("echo ", 2000)
    :ok = WS.send_text(ws, text)
    assert {:text, ^text} = WS.recv(ws)
    assert WS.last_compressed?(ws)
  end
end
