%% A WebSocket client for the Common Test suites, over gen_tcp: the
%% opening handshake (RFC 6455 4.1, with the sec-websocket-accept check),
%% masked client frames, and server frames read whole (fragments joined).
%% Strict where a server may not be loose: a server frame that is masked,
%% or has RSV bits without an extension, fails the test.
-module(ferry_ws_client).

-export([connect/2, connect/3, handshake/3, send/3, send_close/3, recv/1, recv/2,
         close/1, expect_closed/2, frame/2]).

-define(GUID, <<"258EAFA5-E914-47DA-95CA-C5AB0DC85B11">>).
-define(TIMEOUT, 15000).

%% @doc Opens a WebSocket to `Path': `{ok, Socket, ResponseHeaders}', or
%% fails the test with what came instead of a 101.
connect(Port, Path) -> connect(Port, Path, []).

connect(Port, Path, Headers) ->
    S = ferry_test_lib:connect(Port),
    case handshake(S, Path, Headers) of
        {ok, RespHeaders} ->
            {ok, S, RespHeaders};
        {error, What} ->
            gen_tcp:close(S),
            ct:fail("no WebSocket at ~s: ~0tp", [Path, What])
    end.

%% @doc The opening handshake on a connected socket: `{ok, Headers}' after
%% a valid 101, else `{error, {status, Status, Headers, Body}}' (or the
%% socket error).
handshake(S, Path, Headers) ->
    Key = base64:encode(crypto:strong_rand_bytes(16)),
    Default = [{<<"host">>, <<"localhost">>}, {<<"upgrade">>, <<"websocket">>},
               {<<"connection">>, <<"Upgrade">>}, {<<"sec-websocket-key">>, Key},
               {<<"sec-websocket-version">>, <<"13">>}],
    All = Headers ++ [H || {N, _} = H <- Default, not lists:keymember(N, 1, Headers)],
    ferry_test_lib:send_request(S, [<<"GET ">>, Path, <<" HTTP/1.1\r\n">>,
                                    [[N, <<": ">>, V, <<"\r\n">>] || {N, V} <- All], <<"\r\n">>]),
    case ferry_test_lib:recv_head(S, ?TIMEOUT) of
        {101, RespHeaders} ->
            Accept = base64:encode(crypto:hash(sha, [Key, ?GUID])),
            Accept = proplists:get_value(<<"sec-websocket-accept">>, RespHeaders),
            <<"websocket">> = string:lowercase(proplists:get_value(<<"upgrade">>, RespHeaders)),
            {ok, RespHeaders};
        {error, Reason} ->
            {error, Reason};
        {Status, RespHeaders} ->
            Body = case proplists:get_value(<<"content-length">>, RespHeaders) of
                       undefined -> <<>>;
                       Len -> element(2, gen_tcp:recv(S, binary_to_integer(Len), ?TIMEOUT))
                   end,
            {error, {status, Status, RespHeaders, Body}}
    end.

%% @doc One message in one masked frame: the bytes, and sent.
send(S, Op, Data) ->
    ok = gen_tcp:send(S, frame(Op, iolist_to_binary(Data))).

send_close(S, Code, Reason) ->
    send(S, close, [<<Code:16>>, Reason]).

frame(Op, Payload) ->
    Mask = crypto:strong_rand_bytes(4),
    Len = byte_size(Payload),
    LenBits = if
                  Len < 126 -> <<Len:7>>;
                  Len < 65536 -> <<126:7, Len:16>>;
                  true -> <<127:7, Len:64>>
              end,
    [<<1:1, 0:3, (opcode(Op)):4, 1:1, LenBits/bitstring>>, Mask, mask(Payload, Mask)].

mask(<<>>, _Mask) ->
    <<>>;
mask(Payload, Mask) ->
    Keys = binary:part(binary:copy(Mask, byte_size(Payload) div 4 + 1), 0, byte_size(Payload)),
    crypto:exor(Payload, Keys).

opcode(continuation) -> 0;
opcode(text) -> 1;
opcode(binary) -> 2;
opcode(close) -> 8;
opcode(ping) -> 9;
opcode(pong) -> 10.

%% @doc The next message: `{text | binary | ping | pong, Data}',
%% `{close, Code, Reason}' (`{close, none, <<>>}' without a code), or
%% `{error, closed | timeout}'.
recv(S) -> recv(S, ?TIMEOUT).

recv(S, Timeout) ->
    case recv_frame(S, Timeout) of
        {error, _} = Error -> Error;
        {true, Op, Data} -> message(Op, Data);
        {false, Op, Data} when Op =:= text; Op =:= binary -> fragments(S, Timeout, Op, [Data])
    end.

fragments(S, Timeout, Op, Acc) ->
    case recv_frame(S, Timeout) of
        {Fin, continuation, Data} when Fin ->
            message(Op, iolist_to_binary(lists:reverse(Acc, [Data])));
        {false, continuation, Data} ->
            fragments(S, Timeout, Op, [Data | Acc]);
        Other ->
            ct:fail("fragmented ~p message interrupted by ~0tP", [Op, Other, 10])
    end.

message(close, <<>>) -> {close, none, <<>>};
message(close, <<Code:16, Reason/binary>>) -> {close, Code, Reason};
message(Op, Data) -> {Op, Data}.

recv_frame(S, Timeout) ->
    case gen_tcp:recv(S, 2, Timeout) of
        {ok, <<Fin:1, 0:3, Opcode:4, 0:1, Len7:7>>} ->
            Len = case Len7 of
                      126 -> {ok, <<L:16>>} = gen_tcp:recv(S, 2, Timeout), L;
                      127 -> {ok, <<L:64>>} = gen_tcp:recv(S, 8, Timeout), L;
                      _ -> Len7
                  end,
            {ok, Data} = case Len of
                             0 -> {ok, <<>>};
                             _ -> gen_tcp:recv(S, Len, Timeout)
                         end,
            {Fin =:= 1, op(Opcode), Data};
        {ok, Head} ->
            ct:fail("server frame head not allowed here (masked, or RSV bits): ~p", [Head]);
        {error, _} = Error ->
            Error
    end.

op(0) -> continuation;
op(1) -> text;
op(2) -> binary;
op(8) -> close;
op(9) -> ping;
op(10) -> pong.

%% @doc The client's side of a clean close: sends 1000, reads to the
%% server's close frame and the end of the connection.
close(S) ->
    send_close(S, 1000, <<>>),
    _ = await_close(S, ?TIMEOUT, false),
    gen_tcp:close(S).

%% @doc The server closes: reads past any messages to its close frame,
%% answers it (RFC 6455 5.5.1) and reads to the end of the connection;
%% returns the server's close frame.
expect_closed(S, Timeout) ->
    Close = await_close(S, Timeout, true),
    gen_tcp:close(S),
    Close.

await_close(S, Timeout, Answer) ->
    case recv(S, Timeout) of
        {close, Code, _} = Close ->
            %% Not matched: a server may close the socket before it reads this.
            Answer andalso gen_tcp:send(S, frame(close, case Code of
                                                           none -> <<>>;
                                                           _ -> <<Code:16>>
                                                       end)),
            %% A reset instead of an end is a race, not an error: the
            %% server may close before our answer arrives.
            case gen_tcp:recv(S, 0, Timeout) of
                {error, closed} -> ok;
                {error, econnreset} -> ok;
                Other -> ct:fail("after the close frame: ~0tP", [Other, 10])
            end,
            Close;
        {error, closed} ->
            ct:fail("connection closed without a close frame");
        {error, Reason} ->
            ct:fail("no close frame: ~p", [Reason]);
        _Message ->
            await_close(S, Timeout, Answer)
    end.
