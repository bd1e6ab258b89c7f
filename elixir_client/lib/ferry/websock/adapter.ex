defmodule Ferry.WebSock.Adapter do
  # Runs a Ferry.WebSock (or WebSock) handler module as an Erlang
  # :ferry_websocket handler: the connection's process calls these four
  # functions, and this module calls the user's, translating WebSock returns
  # into ferry_websocket commands and ferry_websocket terminate reasons into
  # WebSock's. Ferry.Conn.upgrade_websocket/4 names it in the route's result.
  @moduledoc false

  @behaviour :ferry_websocket

  defstruct [:handler, :state, stopping: nil]

  # The user's handler and its state; `stopping` keeps the reason of a
  # {:stop, …} return until terminate, so the handler hears its own reason
  # however the close handshake then ends.
  @typep t :: %__MODULE__{handler: module(), state: term(), stopping: nil | {:stop, term()}}

  @impl :ferry_websocket
  @spec websocket_init({module(), term()}) :: tuple()
  def websocket_init({handler, state}) when is_atom(handler) do
    call(%__MODULE__{handler: handler}, :init, [state])
  end

  @impl :ferry_websocket
  @spec websocket_handle(tuple(), t()) :: tuple()
  def websocket_handle(_frame, %__MODULE__{stopping: {:stop, _}} = adapter), do: {:ok, adapter}

  def websocket_handle({opcode, data}, adapter) when opcode in [:text, :binary] do
    call(adapter, :handle_in, [{data, opcode: opcode}, adapter.state])
  end

  def websocket_handle({opcode, data}, %__MODULE__{handler: handler} = adapter)
      when opcode in [:ping, :pong] do
    if function_exported?(handler, :handle_control, 2) do
      call(adapter, :handle_control, [{data, opcode: opcode}, adapter.state])
    else
      {:ok, adapter}
    end
  end

  @impl :ferry_websocket
  @spec websocket_info(term(), t()) :: tuple()
  def websocket_info(_message, %__MODULE__{stopping: {:stop, _}} = adapter), do: {:ok, adapter}
  def websocket_info(message, adapter), do: call(adapter, :handle_info, [message, adapter.state])

  @impl :ferry_websocket
  @spec terminate(term(), map(), t() | {module(), term()}) :: :ok
  # init/1 never returned: there is no state to hand to terminate/2.
  def terminate(_reason, _req, {_handler, _init_arg}), do: :ok

  def terminate(reason, _req, %__MODULE__{handler: handler, state: state} = adapter) do
    if function_exported?(handler, :terminate, 2) do
      handler.terminate(close_reason(reason, adapter), state)
    end

    :ok
  end

  # A ferry_websocket terminate reason as WebSock names it.
  @spec close_reason(term(), t()) :: Ferry.WebSock.close_reason()
  defp close_reason(_reason, %__MODULE__{stopping: {:stop, :normal}}), do: :normal
  defp close_reason(_reason, %__MODULE__{stopping: {:stop, reason}}), do: {:error, reason}
  defp close_reason({:remote, _code, _text}, _adapter), do: :remote
  # Rust closes with 1001 a client that answered no ping in time (a
  # listener stopping is `shutdown`, from the Erlang side).
  defp close_reason({:error, 1001, _text}, _adapter), do: :timeout
  defp close_reason({:error, 1006, _text}, _adapter), do: {:error, :closed}
  defp close_reason({:error, code, text}, _adapter), do: {:error, {code, text}}
  defp close_reason(:stop, _adapter), do: :normal
  defp close_reason(:shutdown, _adapter), do: :shutdown
  defp close_reason({:crash, _class, reason, _stack}, _adapter), do: {:error, reason}
  defp close_reason(other, _adapter), do: {:error, other}

  defp call(%__MODULE__{handler: handler} = adapter, callback, args) do
    result = apply(handler, callback, args)
    to_commands(result, adapter, handler, callback)
  end

  defp to_commands({:ok, state}, adapter, _handler, _callback),
    do: {:ok, %{adapter | state: state}}

  defp to_commands({:push, frames, state}, adapter, handler, callback),
    do: {frames(frames, handler, callback), %{adapter | state: state}}

  defp to_commands({:reply, _status, frames, state}, adapter, handler, callback),
    do: {frames(frames, handler, callback), %{adapter | state: state}}

  defp to_commands({:stop, reason, state}, adapter, handler, callback),
    do: to_commands({:stop, reason, default_code(reason), [], state}, adapter, handler, callback)

  defp to_commands({:stop, reason, detail, state}, adapter, handler, callback),
    do: to_commands({:stop, reason, detail, [], state}, adapter, handler, callback)

  defp to_commands({:stop, reason, detail, frames, state}, adapter, handler, callback) do
    commands = frames(frames, handler, callback) ++ [close(detail, handler, callback)]
    {commands, %{adapter | state: state, stopping: {:stop, reason}}}
  end

  defp to_commands(other, _adapter, handler, callback) do
    raise ArgumentError,
          "#{inspect(handler)}.#{callback} returned #{inspect(other, limit: 5)}, not a WebSock " <>
            "result ({:ok, state}, {:push, frames, state}, {:stop, reason, state} …)"
  end

  # As Bandit: a normal stop is 1000, a restart 1012 (service restart), any
  # other reason an internal error, 1011.
  defp default_code(:normal), do: 1000
  defp default_code({:shutdown, :restart}), do: 1012
  defp default_code(_reason), do: 1011

  defp frames(frames, handler, callback) when is_list(frames),
    do: Enum.map(frames, &frame(&1, handler, callback))

  defp frames(frame, handler, callback), do: [frame(frame, handler, callback)]

  # WebSock frames and ferry_websocket commands have the same shape.
  defp frame({opcode, _data} = frame, _handler, _callback)
       when opcode in [:text, :binary, :ping, :pong],
       do: frame

  defp frame(other, handler, callback) do
    raise ArgumentError,
          "#{inspect(handler)}.#{callback} returned the frame #{inspect(other, limit: 5)}; " <>
            "a frame is {:text | :binary | :ping | :pong, iodata}"
  end

  defp close(code, _handler, _callback) when is_integer(code), do: {:close, code, ""}
  defp close({code, nil}, _handler, _callback) when is_integer(code), do: {:close, code, ""}

  defp close({code, text}, _handler, _callback) when is_integer(code) and is_binary(text),
    do: {:close, code, close_text(text)}

  defp close(other, handler, callback) do
    raise ArgumentError,
          "#{inspect(handler)}.#{callback} returned the close detail #{inspect(other)}; " <>
            "it is a code or {code, reason}"
  end

  # A close frame's payload is at most 125 bytes, the code included (RFC
  # 6455 §5.5); Rust refuses a longer one and the client would get no close
  # frame at all, so the reason is cut, on a character boundary.
  @max_close_text 123

  defp close_text(text) when byte_size(text) <= @max_close_text, do: text

  defp close_text(text) do
    case :unicode.characters_to_binary(binary_part(text, 0, @max_close_text)) do
      cut when is_binary(cut) -> cut
      {_incomplete_or_error, valid, _rest} -> valid
    end
  end
end
