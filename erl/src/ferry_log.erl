%% @doc ferry's logger reports: structured maps of domain [ferry] with a
%% `what' saying which event, so tools (and tests) can read the fields and
%% people get one line. Levels: handler failures, port deaths and refused
%% commands are errors; a restart or an orderly drain is a notice; the
%% Rust process's own lines keep the level it gave them.
-module(ferry_log).

-export([report/2, format/1]).

-spec report(logger:level(), #{what := atom(), listener := atom(), atom() => term()}) -> ok.
report(Level, Report) ->
    logger:log(Level, Report, #{domain => [ferry], report_cb => fun ?MODULE:format/1}).

%% @doc The report_cb: one readable line per report.
-spec format(map()) -> {io:format(), [term()]}.
format(#{what := handler_failed, listener := Listener, id := Id} = R) ->
    Where = io_lib:format("ferry listener ~p, request ~p ~ts ~ts",
                          [Listener, Id, maps:get(method, R, <<>>), maps:get(path, R, <<>>)]),
    case R of
        #{bad_frame := Frame} ->
            {"~ts: request frame not understood: ~0tP", [Where, Frame, 30]};
        #{bad_return := Result, why := Why} ->
            {"~ts: handler asked for a WebSocket upgrade ferry cannot make (~0tp): ~0tP",
             [Where, Why, Result, 30]};
        #{bad_return := Result} ->
            {"~ts: handler returned something that is not an answer: ~0tp", [Where, Result]};
        #{class := Class, reason := Reason, stacktrace := Stack} ->
            {"~ts: handler crashed: ~tp:~0tp~n~tp", [Where, Class, Reason, Stack]}
    end;
format(#{what := handler_exit, listener := L, id := Id, reason := Reason}) ->
    {"ferry listener ~p: handler of request ~p exited without answering: ~0tp; answered 500",
     [L, Id, Reason]};
format(#{what := websocket_crashed, listener := L, id := Id, module := M, callback := F,
         class := Class, reason := Reason, stacktrace := Stack} = R) ->
    Where = io_lib:format("ferry listener ~p, WebSocket ~p ~ts: ~p:~p",
                          [L, Id, maps:get(path, R, <<>>), M, F]),
    %% terminate/3 runs once the connection is over: nothing to close.
    Closed = case F of
                 terminate -> "";
                 _ -> "; closed with 1011"
             end,
    case Reason of
        {ferry_websocket, bad_return, Value} ->
            {"~ts returned something that is not a call_result: ~0tP~s", [Where, Value, 30, Closed]};
        {ferry_websocket, bad_command, Command} ->
            {"~ts asked for a command ferry cannot send: ~0tP (text and binary take iodata; "
             "ping and pong at most 125 bytes; close codes 1000-1003, 1007-1014, 3000-4999 "
             "with at most 123 bytes of reason)~s", [Where, Command, 30, Closed]};
        {ferry_websocket, too_large, Op, Bytes, MaxFrame} ->
            {"~ts asked to send a ~p message of ~p bytes, over the port's max_frame (~p)~s",
             [Where, Op, Bytes, MaxFrame, Closed]};
        _ ->
            {"~ts crashed: ~tp:~0tP~s~n~tp", [Where, Class, Reason, 30, Closed, Stack]}
    end;
format(#{what := websocket_exit, listener := L, id := Id, reason := Reason}) ->
    {"ferry listener ~p: the process of WebSocket ~p exited: ~0tp; closed with 1011",
     [L, Id, Reason]};
format(#{what := request_timeout, listener := L, id := Id}) ->
    {"ferry listener ~p: handler of request ~p overran request_timeout; answered 503, killed",
     [L, Id]};
format(#{what := port_down, listener := L, reason := Why, os_pid := OsPid,
         restart := N, delay_ms := Delay}) ->
    {"ferry listener ~p: port (os pid ~p) went down: ~0tp; restart ~p in ~p ms",
     [L, OsPid, Why, N, Delay]};
format(#{what := port_restarted, listener := L, os_pid := OsPid, restarts := N}) ->
    {"ferry listener ~p: port restarted (os pid ~p) after ~p restart(s)", [L, OsPid, N]};
format(#{what := port_drained, listener := L, exit := Why}) ->
    {"ferry listener ~p: port drained, ~0tp", [L, Why]};
format(#{what := port_log, listener := L, message := Message}) ->
    {"ferry listener ~p (port): ~ts", [L, Message]};
format(#{what := protocol_error, listener := L, id := Id, message := Message}) ->
    {"ferry listener ~p: the port refused a command for request ~p: ~ts", [L, Id, Message]};
format(#{what := listen_error, listener := L, kind := Kind, message := Message}) ->
    {"ferry listener ~p: the port could not listen: ~p ~ts", [L, Kind, Message]};
format(#{what := unexpected_frame, listener := L, frame := Frame}) ->
    {"ferry listener ~p: unexpected frame from the port: ~0tP", [L, Frame, 20]};
format(Report) ->
    {"ferry: ~0tp", [Report]}.
