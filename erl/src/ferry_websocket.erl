%% @doc The WebSocket behaviour, and the process of one WebSocket
%% connection, after `cowboy_websocket'.
%%
%% A handler that returns `{websocket, Module, State}' or
%% `{websocket, Module, State, Opts}' upgrades its request: its process
%% becomes the connection's, calling `Module''s callbacks with whole
%% messages. Rust owns the framing, masking, UTF-8 checks, ping/pong and
%% the close handshake (docs/PROTOCOL.md "WebSocket").
%%
%% Back-pressure both ways: Rust may have `body_window' bytes of messages
%% in flight to this process, and each is granted again only after
%% `websocket_handle/2' returned, so a slow handler stops Rust reading its
%% socket; frames to its own connection wait for `stream_credit' past
%% `send_window', so a client that reads slowly blocks its handler.
%%
%% A callback that crashes, or returns something that is not a
%% `call_result()', costs its own connection only: it is closed with 1011,
%% reported (ferry_log `websocket_crashed'), and `terminate/3' gets
%% `{crash, Class, Reason, Stack}'.
-module(ferry_websocket).

-include("ferry_ctx.hrl").

-export([upgrade/4]).
%% Pure, for ferry_handler and the tests.
-export([result/1, commands/2, check/2]).
%% Where a hibernated process wakes up.
-export([start/1, loop/1]).

-export_type([in_frame/0, command/0, call_result/1, terminate_reason/0, opts/0]).

%% A whole message from the client; pings and pongs only with
%% `control => true' (Rust answers pings itself either way).
-type in_frame() :: {text | binary | ping | pong, binary()}.

%% What a callback asks for. `ping' is an empty ping; `close' a close
%% frame without a code; `stop' closes with 1000. Nothing is sent after a
%% close, and the process ends with `terminate(stop, ...)'.
-type command() :: {text, iodata()} | {binary, iodata()}
                 | ping | {ping, iodata()} | {pong, iodata()}
                 | close | {close, ferry_protocol:close_code(), iodata()} | stop.

-type call_result(State) :: {[command()], State} | {[command()], State, hibernate}
                          | {ok, State} | {ok, State, hibernate}
                          | {reply, command() | [command()], State}
                          | {reply, command() | [command()], State, hibernate}
                          | {stop, State}.

%% `remote': the client closed (1005 when its close frame had no code);
%% `error': Rust closed it (1002 protocol error, 1007 bad UTF-8, 1009 too
%% large, 1008 too slow, 1001 no pong, 1006 the socket died without a
%% close frame); `stop': a callback asked; `shutdown': the listener is
%% stopping; `crash': a callback crashed (the connection got 1011).
-type terminate_reason() :: {remote, 1000..4999, binary()}
                          | {error, 1000..4999, binary()}
                          | stop | shutdown
                          | {crash, error | exit | throw, term(), list()}.

%% `protocol': the subprotocol to accept, one the client offered in
%% `sec-websocket-protocol'; `deflate' (default true): accept
%% permessage-deflate if the client offers it and the listener's
%% `ws_deflate' allows it; `hibernate' (default false): hibernate the
%% process whenever it is idle; `hibernate_after' (ms, default infinity):
%% hibernate it once it has been idle this long; `headers': added to the
%% 101 response;
%% `control' (default false): pass pings and pongs to websocket_handle.
-type opts() :: #{protocol => binary(), deflate => boolean(), hibernate => boolean(),
                  hibernate_after => timeout(), headers => ferry_req:headers(),
                  control => boolean()}.

%% Called once the upgrade is sent, before any message: the place to join
%% groups and send a greeting.
-callback websocket_init(State) -> call_result(State) when State :: term().
%% A whole message from the client.
-callback websocket_handle(in_frame(), State) -> call_result(State) when State :: term().
%% Any other Erlang message to the process.
-callback websocket_info(term(), State) -> call_result(State) when State :: term().
%% The connection is over; the process ends when this returns. `Req' is
%% the upgraded request, without its body.
-callback terminate(terminate_reason(), ferry_req:req(), State :: term()) -> term().
-optional_callbacks([websocket_init/1, terminate/3]).

-record(ws, {ctx :: #ferry_ctx{},
             module :: module(),
             state :: term(),
             req :: map(),
             hibernate :: boolean(),
             %% Idle this long (ms), the process hibernates.
             hibernate_after = infinity :: timeout(),
             %% Message bytes (and their cost) handled but not granted
             %% again yet: given back in batches of a quarter window.
             regrant = 0 :: non_neg_integer(),
             %% Bytes of text and binary frames sent and not yet credited.
             outstanding = 0 :: non_neg_integer()}).

%%% The upgrade

%% @doc Runs the upgrade a handler asked for, in the handler's process:
%% accepts a valid opening handshake and runs the connection until it
%% ends; answers 426 (version not 13) or 400 (no or a broken handshake)
%% itself. `{error, Why}' when the handler's own answer is wrong (a module
%% that is not a ferry_websocket, a bad option, a subprotocol the client
%% did not offer): nothing was sent, ferry_handler answers 500.
-spec upgrade(ferry_req:req(), module(), term(), opts()) -> ok | {error, term()}.
upgrade(Req, Module, State, Opts) ->
    case check(Module, Opts) of
        ok -> handshake(Req, Module, State, Opts);
        {error, _} = Error -> Error
    end.

%% @doc The handler's side of an upgrade, as far as it does not depend on
%% the request.
-spec check(term(), term()) -> ok | {error, term()}.
check(Module, Opts) when is_atom(Module), is_map(Opts) ->
    Callbacks = [{websocket_handle, 2}, {websocket_info, 2}],
    case code:ensure_loaded(Module) =:= {module, Module}
        andalso lists:all(fun({F, A}) -> erlang:function_exported(Module, F, A) end, Callbacks) of
        true ->
            case [K || {K, V} <- maps:to_list(Opts), not valid_opt(K, V)] of
                [] -> ok;
                Bad -> {error, {bad_options, lists:sort(Bad)}}
            end;
        false ->
            {error, {not_a_websocket_module, Module}}
    end;
check(Module, Opts) ->
    {error, {bad_upgrade, Module, Opts}}.

valid_opt(protocol, V) -> is_binary(V);
valid_opt(K, V) when K =:= deflate; K =:= hibernate; K =:= control -> is_boolean(V);
valid_opt(hibernate_after, V) -> V =:= infinity orelse (is_integer(V) andalso V >= 0);
valid_opt(headers, V) ->
    try _ = ferry_req:encode_headers(V), true
    catch error:_ -> false
    end;
valid_opt(_, _) -> false.

handshake(Req, Module, State, Opts) ->
    case ferry_req:websocket(Req) of
        ok ->
            case offered(Opts, Req) of
                true -> accept(Req, Module, State, Opts);
                false -> {error, {protocol_not_offered, maps:get(protocol, Opts)}}
            end;
        bad_version ->
            refuse(426, [{<<"sec-websocket-version">>, <<"13">>}],
                   <<"Upgrade Required: this server speaks WebSocket version 13 "
                     "(RFC 6455 4.4)\n">>, Req);
        bad_request ->
            refuse(400, [], <<"Bad Request: not a valid WebSocket opening handshake "
                              "(RFC 6455 4.2.1)\n">>, Req);
        false ->
            refuse(400, [], <<"Bad Request: this resource speaks WebSocket only, and the "
                              "request is no WebSocket opening handshake (RFC 6455 4.2.1)\n">>,
                   Req)
    end.

%% A client fails a connection whose 101 names a subprotocol it did not
%% offer (RFC 6455 4.1): better a 500 and a report here.
offered(#{protocol := Protocol}, Req) ->
    Field = ferry_req:header(<<"sec-websocket-protocol">>, Req, <<>>),
    lists:member(Protocol, [string:trim(P) || P <- binary:split(Field, <<",">>, [global])]);
offered(_Opts, _Req) ->
    true.

refuse(Status, Headers, Body, Req) ->
    _ = ferry_req:reply(Status, Headers, Body, Req),
    ok.

%% The accept and the first grant go in one write. websocket_init runs
%% after them, so it may join groups and send at once.
accept(#{?FERRY_CTX := Ctx} = Req, Module, State, Opts) ->
    #ferry_ctx{port = Port, id = Id, owner = Owner, body_window = Window} = Ctx,
    %% No request_timeout from now on; and if this process dies without
    %% closing, the port owner closes the connection.
    Owner ! {ferry_websocket, Id, self()},
    ferry_ws:enter(Ctx),
    Headers = ferry_req:encode_headers(maps:get(headers, Opts, [])),
    Accept = ferry_protocol:ws_accept(Id, Headers, maps:with([protocol, deflate, control], Opts)),
    send(Port, ferry_protocol:batch([Accept, ferry_protocol:read_body(Id, Window)])),
    ferry_lifecycle:websocket_upgrade(Ctx),
    W = #ws{ctx = Ctx, module = Module, state = State, req = kept(Module, Req),
            hibernate = maps:get(hibernate, Opts, false),
            hibernate_after = maps:get(hibernate_after, Opts, infinity)},
    %% The process leaves behind the heap it grew to while the request was
    %% decoded, routed and upgraded (5-9 KB, which the BEAM never shrinks
    %% for a heap this small): it waits for `ws_open' (or `closed') hibernated,
    %% and keeps only what the connection needs.
    %% Every collection a full sweep: the state, promoted at the first one,
    %% would otherwise sit in an old heap for the life of the connection
    %% (376 words beside the 233 of the young heap). Live data is small,
    %% so a full sweep costs about what a minor one does.
    _ = process_flag(fullsweep_after, 0),
    ferry_handler:lasting(),
    erlang:hibernate(?MODULE, start, [W]).

%% The request is kept for terminate/3. A module without one gets only
%% the path, for crash reports: the request (~140 words) would otherwise
%% outweigh the rest of an idle connection's state, and grow its heap past
%% the VM's minimum.
kept(Module, Req) ->
    _ = code:ensure_loaded(Module),
    case erlang:function_exported(Module, terminate, 3) of
        true -> maps:remove(body, Req);
        false -> maps:with([path], Req)
    end.

%% @private
-spec start(#ws{}) -> ok.
start(#ws{module = Module} = W) ->
    case erlang:function_exported(Module, websocket_init, 1) of
        true -> call(W, websocket_init, undefined);
        false -> next(W, false)
    end.

%%% The connection's loop

%% @private
-spec loop(#ws{}) -> ok.
loop(#ws{ctx = #ferry_ctx{id = Id}, hibernate_after = Idle} = W) ->
    receive
        {ws_in, Id, Op, Data} ->
            Cost = byte_size(Data) + ferry_protocol:body_frame_cost(),
            call(W#ws{regrant = W#ws.regrant + Cost}, websocket_handle, {Op, Data});
        {stream_credit, Id, Bytes} ->
            next(credit(W, Bytes), false);
        {ws_closed, Id, Cause, Code, Reason} ->
            terminate(closed(Cause, Code, Reason), W);
        {closed, Id, Reason} ->
            %% The client left before the upgrade was written.
            terminate({error, 1006, atom_to_binary(Reason)}, W);
        {ws_open, Id, _Info} ->
            next(W, false);
        Info ->
            call(W, websocket_info, Info)
    after Idle ->
            erlang:hibernate(?MODULE, loop, [W])
    end.

closed(remote, Code, Reason) -> {remote, Code, Reason};
closed(shutdown, _Code, _Reason) -> shutdown;
closed(_Error, Code, Reason) -> {error, Code, Reason}.

credit(#ws{outstanding = Outstanding} = W, Bytes) ->
    W#ws{outstanding = max(0, Outstanding - Bytes)}.

%% Hibernation (asked for by the callback, or always with `hibernate =>
%% true') waits until nothing is queued: waking at once would only cost
%% a garbage collection.
next(#ws{hibernate = Always} = W, Now) when Always; Now ->
    case process_info(self(), message_queue_len) of
        {message_queue_len, 0} -> erlang:hibernate(?MODULE, loop, [W]);
        _ -> loop(W)
    end;
next(W, false) ->
    loop(W).

call(#ws{module = Module, state = State, ctx = Ctx} = W, Callback, Arg) ->
    try
        {Commands, NewState, Hibernate} = result(callback(Module, Callback, Arg, State)),
        {commands(Commands, Ctx#ferry_ctx.max_frame), NewState, Hibernate}
    of
        {{Frames, Stop}, NewState, Hibernate} ->
            run(W#ws{state = NewState}, Frames, Stop, Hibernate)
    catch
        Class:Reason:Stack -> crash(W, Callback, Class, Reason, Stack)
    end.

callback(Module, websocket_init, _, State) -> Module:websocket_init(State);
callback(Module, Callback, Arg, State) -> Module:Callback(Arg, State).

%% @doc A callback's return as `{Commands, State, Hibernate}'; raises
%% `{ferry_websocket, bad_return, Value}' for anything else.
-spec result(term()) -> {list(), term(), boolean()}.
result({ok, State}) -> {[], State, false};
result({ok, State, hibernate}) -> {[], State, true};
result({reply, Commands, State}) -> {listed(Commands), State, false};
result({reply, Commands, State, hibernate}) -> {listed(Commands), State, true};
result({stop, State}) -> {[stop], State, false};
result({Commands, State}) when is_list(Commands) -> {Commands, State, false};
result({Commands, State, hibernate}) when is_list(Commands) -> {Commands, State, true};
result(Other) -> error({ferry_websocket, bad_return, Other}).

listed(Commands) when is_list(Commands) -> Commands;
listed(Command) -> [Command].

%% @doc The frames of the commands, each with the bytes it counts against
%% the send window, and whether the connection ends after them (at the
%% first `close' or `stop'; later commands are dropped, as nothing may
%% follow a close frame). Raises `{ferry_websocket, bad_command, Command}'
%% for a command ferry cannot send, and `{ferry_websocket, too_large, Op,
%% Bytes, MaxFrame}' for a message that does not fit in the port's
%% `max_frame'.
-spec commands(list(), pos_integer() | infinity) ->
          {[{ferry_protocol:ws_frame(), non_neg_integer()}], boolean()}.
commands(Commands, MaxFrame) ->
    commands(Commands, MaxFrame, []).

commands([], _MaxFrame, Acc) ->
    {lists:reverse(Acc), false};
commands([stop | _], _MaxFrame, Acc) ->
    {lists:reverse(Acc, [{{close, 1000, <<>>}, 0}]), true};
commands([Command | Rest], MaxFrame, Acc) ->
    case ferry_protocol:ws_frame(Command) of
        {ok, Frame, Credit} ->
            %% Only text and binary frames (Credit is their size) can be.
            ferry_protocol:ws_fits(Frame, MaxFrame) orelse
                error({ferry_websocket, too_large, element(1, Frame), Credit, MaxFrame}),
            case is_close(Frame) of
                true -> {lists:reverse(Acc, [{Frame, Credit}]), true};
                false -> commands(Rest, MaxFrame, [{Frame, Credit} | Acc])
            end;
        error ->
            error({ferry_websocket, bad_command, Command})
    end;
commands(NotAList, _MaxFrame, _Acc) ->
    error({ferry_websocket, bad_command, NotAList}).

is_close(close) -> true;
is_close(Frame) -> element(1, Frame) =:= close.

run(W0, Frames, Stop, Hibernate) ->
    case send_frames(W0, Frames, []) of
        {ok, W} when Stop -> terminate(stop, W);
        {ok, W} -> next(W, Hibernate);
        {closed, Reason, W} -> terminate(Reason, W)
    end.

%% Frames go out in one command, with the grant that is due, unless a
%% text or binary frame would take the bytes in flight past send_window:
%% then what came before it goes, and it waits for credit. One frame may
%% go past the window when nothing is in flight.
send_frames(W, [], Acc) ->
    {ok, flush(W, Acc)};
send_frames(#ws{outstanding = Out, ctx = #ferry_ctx{send_window = Window}} = W,
            [{Frame, Credit} | Rest] = Frames, Acc) ->
    case Credit > 0 andalso Out > 0 andalso Out + Credit > Window of
        false ->
            send_frames(W#ws{outstanding = Out + Credit}, Rest, [Frame | Acc]);
        true ->
            case await_credit(flush(W, Acc)) of
                {ok, W1} -> send_frames(W1, Frames, []);
                {closed, _Reason, _W} = Closed -> Closed
            end
    end.

%% While waiting, messages from the client stay queued: the handler is
%% not called, and so grants nothing more.
await_credit(#ws{ctx = #ferry_ctx{id = Id, port = Port}} = W) ->
    receive
        {stream_credit, Id, Bytes} ->
            {ok, credit(W, Bytes)};
        {ws_closed, Id, Cause, Code, Reason} ->
            {closed, closed(Cause, Code, Reason), W};
        {closed, Id, Reason} ->
            {closed, {error, 1006, atom_to_binary(Reason)}, W}
    after ferry_opts:req_default(send_timeout) ->
            %% Rust closes a client this slow first; this is the backstop.
            send(Port, ferry_protocol:ws_send(Id, [{close, 1008, <<"send timeout">>}])),
            {closed, {error, 1008, <<"send timeout">>}, W}
    end.

%% The frames (reversed) in as few commands as max_frame allows, the
%% due grant riding with the last: one write per message in the common
%% case.
flush(#ws{ctx = #ferry_ctx{port = Port, id = Id, body_window = Window, max_frame = Max},
          regrant = Due} = W, Acc) ->
    Sends = [ferry_protocol:ws_send(Id, Run) || Run <- ferry_protocol:ws_runs(lists:reverse(Acc), Max)],
    {Grant, Left} = case Due >= max(1, Window div 4) of
                        true -> {[ferry_protocol:read_body(Id, Due)], 0};
                        false -> {[], Due}
                    end,
    case Sends ++ Grant of
        [] -> ok;
        [One] -> send(Port, One);
        _ ->
            {Alone, Last} = lists:split(length(Sends) - 1, Sends),
            [send(Port, C) || C <- Alone],
            send(Port, ferry_protocol:batch(Last ++ Grant))
    end,
    W#ws{regrant = Left}.

%%% The end

crash(#ws{ctx = #ferry_ctx{port = Port, id = Id}} = W, Callback, Class, Reason, Stack) ->
    send(Port, ferry_protocol:ws_send(Id, [{close, 1011, <<>>}])),
    report(W, Callback, Class, Reason, Stack),
    terminate({crash, Class, Reason, Stack}, W).

terminate(Reason, #ws{module = Module, state = State, req = Req, ctx = Ctx} = W) ->
    ferry_lifecycle:websocket_close(Ctx, Reason),
    case erlang:function_exported(Module, terminate, 3) of
        true ->
            try Module:terminate(Reason, Req, State)
            catch Class:Crash:Stack -> report(W, terminate, Class, Crash, Stack)
            end;
        false ->
            ok
    end,
    ok.

report(#ws{ctx = #ferry_ctx{listener = Listener, id = Id}, module = Module, req = Req},
       Callback, Class, Reason, Stack) ->
    ferry_log:report(error, #{what => websocket_crashed, listener => Listener, id => Id,
                              module => Module, callback => Callback, path => maps:get(path, Req),
                              class => Class, reason => Reason, stacktrace => Stack}).

%% A dead port took the connection with it; ferry_port stops this process.
send(Port, Frame) ->
    try erlang:port_command(Port, Frame), ok
    catch error:badarg -> ok
    end.
