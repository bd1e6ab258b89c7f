defmodule Demo.EchoSocket do
  @moduledoc """
  The WebSocket at `/ws/echo`: every text and binary message comes back as
  it was sent (compressed when the client offered permessage-deflate). The
  target of the Autobahn conformance run.

      websocket "/ws/echo", Demo.EchoSocket, [], compress: true
  """

  use Ferry.WebSock

  @impl true
  def handle_in({data, opcode: opcode}, state), do: {:push, {opcode, data}, state}
end
