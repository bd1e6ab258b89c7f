defmodule Ferry.WebSock do
  @moduledoc """
  The behaviour of a WebSocket handler: the contract of the `websock`
  package (the one Bandit and `WebSockAdapter` use), with the same
  callbacks, arguments and return values, so a module written for Bandit
  runs on Ferry unchanged. Ferry does not depend on `websock`: a module that
  says `@behaviour WebSock` works as well, because Ferry only calls its
  functions.

      defmodule MyApp.EchoSocket do
        use Ferry.WebSock

        @impl true
        def handle_in({data, opcode: opcode}, state), do: {:push, {opcode, data}, state}
      end

  and in a `Ferry.Router`:

      websocket "/ws/echo", MyApp.EchoSocket, []

  (or `upgrade_websocket(conn, MyApp.EchoSocket, [], compress: true)` in a
  route, see `Ferry.Conn.upgrade_websocket/4`).

  Each connection is one Erlang process, which calls `c:init/1` once the
  connection is upgraded, then `c:handle_in/2` for each message from the
  client and `c:handle_info/2` for each other message the process receives.
  Rust does the framing, masking, UTF-8 checks, pings and
  permessage-deflate (`docs/PROTOCOL.md`, "WebSocket"): the callbacks see
  whole messages. `Ferry.WebSocket` adds groups with fan-out done in Rust.

  ## What a callback returns

    * `{:ok, state}` — nothing to send.
    * `{:push, frames, state}` — send `frames`: one `{opcode, iodata}` or a
      list of them, `opcode` one of `:text`, `:binary`, `:ping`, `:pong`.
      A `:text` frame must be valid UTF-8 (Rust does not check what the
      server sends).
    * `{:reply, status, frames, state}` — as `:push`; `status` is ignored.
    * `{:stop, reason, state}` — close the connection: code 1000 when
      `reason` is `:normal`, 1012 for `{:shutdown, :restart}`, 1011
      otherwise.
    * `{:stop, reason, close_detail, state}` — close with `close_detail`,
      a code or `{code, reason_text}`.
    * `{:stop, reason, close_detail, frames, state}` — send `frames`, then
      close.

  After a `:stop` the handler is called no more except for `c:terminate/2`,
  with `:normal` when `reason` was `:normal` and `{:error, reason}`
  otherwise.

  A callback that raises closes its connection with 1011; the error is
  logged and nothing else is touched.

  ## `use Ferry.WebSock`

  Declares the behaviour and defines `c:init/1` (`{:ok, state}`),
  `c:handle_info/2` (ignores the message) and `c:terminate/2` (`:ok`), all
  overridable. `c:handle_in/2` has no default. `c:handle_control/2` has none
  either on purpose: only a handler that defines it is sent the client's
  pings and pongs (Rust answers pings itself).
  """

  @typedoc "The handler's state, passed from callback to callback."
  @type state :: term()

  @typedoc "The kind of a message."
  @type opcode :: :text | :binary | :ping | :pong

  @typedoc "What a callback sends: one frame or a list of them."
  @type messages :: {opcode(), iodata()} | [{opcode(), iodata()}]

  @typedoc "How to close: a close code (RFC 6455 §7.4), with a reason text or not."
  @type close_detail :: integer() | {integer(), String.t() | nil}

  @typedoc "Why the handler asked to stop; `:normal` closes with 1000."
  @type stop_reason :: :normal | :abnormal | :shutdown | {:shutdown, term()} | term()

  @typedoc """
  Why the connection ended, as `c:terminate/2` gets it:

    * `:normal` — the handler returned `{:stop, :normal, …}`.
    * `:remote` — the client closed the connection (with a close frame).
    * `:shutdown` — the listener is stopping.
    * `:timeout` — the client answered no ping within `ws_idle_timeout`
      (close code 1001).
    * `{:error, reason}` — anything else: the handler stopped with another
      reason or raised (`reason` is the handler's), the socket died without a
      close frame (`:closed`), or Rust closed the connection for a protocol
      error or a limit (`{code, text}`, e.g. `{1009, "message too big"}`).
  """
  @type close_reason :: :normal | :remote | :shutdown | :timeout | {:error, term()}

  @typedoc "What every callback but `c:terminate/2` returns."
  @type handle_result ::
          {:push, messages(), state()}
          | {:reply, term(), messages(), state()}
          | {:ok, state()}
          | {:stop, stop_reason(), state()}
          | {:stop, stop_reason(), close_detail(), state()}
          | {:stop, stop_reason(), close_detail(), messages(), state()}

  @doc """
  Called once the connection is upgraded, in the connection's process, with
  the state given to `Ferry.Conn.upgrade_websocket/4`. A good place to join
  groups (`Ferry.WebSocket.join/1`) or to subscribe to anything that will
  send this process messages.
  """
  @callback init(state()) :: handle_result()

  @doc """
  Called for each text or binary message from the client, whole (fragments
  joined, inflated when compressed). Text is valid UTF-8: Rust checked it.
  """
  @callback handle_in({binary(), opcode: :text | :binary}, state()) :: handle_result()

  @doc """
  Called for each ping and pong from the client, when the handler defines
  it. Rust has already answered the ping.
  """
  @callback handle_control({binary(), opcode: :ping | :pong}, state()) :: handle_result()

  @doc "Called for each other message the connection's process receives."
  @callback handle_info(term(), state()) :: handle_result()

  @doc """
  Called once when the connection is over (see `t:close_reason/0`); the
  return value is ignored. It is not called when `c:init/1` raised.
  """
  @callback terminate(close_reason(), state()) :: any()

  @optional_callbacks handle_control: 2, terminate: 2

  @doc false
  defmacro __using__(_opts) do
    quote do
      @behaviour Ferry.WebSock

      @impl Ferry.WebSock
      def init(state), do: {:ok, state}

      @impl Ferry.WebSock
      def handle_info(_message, state), do: {:ok, state}

      @impl Ferry.WebSock
      def terminate(_reason, _state), do: :ok

      defoverridable init: 1, handle_info: 2, terminate: 2
    end
  end
end
