%% @doc ferry's logger reports: structured maps of domain [ferry] with a
%% `what' saying which event, so tools (and tests) can read the fields and
%% people get one line. Levels: handler failures, port deaths and refused
%% commands are errors; a restart or an orderly drain is a notice; the
%% Rust process's own lines keep the level it gave them.
-module(ferry_log).

-export([report/2, format/1, port_exit/1]).

-spec report(logger:level(), #{what := atom(), listener := atom(), atom() => term()}) -> ok.
report(Level, Report) ->
    logger:log(Level, Report, #{domain => [ferry], report_cb => fun ?MODULE:format/1}).

%% @doc The report_cb: one readable line per report.
-spec format(map()) -> {io:format(), [term()]}.
format(#{what := handler_failed, listener := Listener, id := Id} = R) ->
    Handler = case R of
                  #{handler := H} -> io_lib:format(" (handler ~0tp)", [H]);
                  _ -> ""
              end,
    Where = io_lib:format("ferry listener ~p, request ~p ~ts ~ts~ts",
                          [Listener, Id, maps:get(method, R, <<>>), maps:get(path, R, <<>>),
                           Handler]),
    case R of
        #{bad_frame := Frame} ->
            {"~ts: request frame not understood: ~0tP", [Where, Frame, 30]};
        #{bad_response := {frame_too_large, Bytes, Max}} ->
            {"~ts: response refused, answered 500: its frame of ~b bytes is over the port's "
             "max_frame (~b bytes), which would make the port exit", [Where, Bytes, Max]};
        #{bad_response := {content_length, Values, Size}} ->
            {"~ts: response refused, answered 500: content-length ~0tp does not announce "
             "its body of ~b bytes", [Where, Values, Size]};
        #{bad_return := {Status, _, _}, why := informational} ->
            {"~ts: handler returned ~p, an informational status, which is not a final "
             "answer (send a 1xx with ferry_req:reply/4); answered 500", [Where, Status]};
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
    {"ferry listener ~p: port (os pid ~p) went down: ~ts; restart ~p in ~p ms",
     [L, OsPid, port_exit(Why), N, Delay]};
format(#{what := port_restarted, listener := L, os_pid := OsPid, restarts := N}) ->
    {"ferry listener ~p: port restarted (os pid ~p) after ~p restart(s)", [L, OsPid, N]};
format(#{what := port_drained, listener := L, exit := Why}) ->
    {"ferry listener ~p: port drained, ~ts", [L, port_exit(Why)]};
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

%% @doc Why a port went down, for people: an exit status with the name and
%% meaning of its code (docs/PROTOCOL.md "Exit codes", src/exit.rs), or the
%% signal that killed the process.
-spec port_exit(term()) -> unicode:chardata().
port_exit({exit_status, Status}) when Status > 128 ->
    io_lib:format("exit status ~b: killed by signal ~b~ts", [Status, Status - 128,
                                                             signal_name(Status - 128)]);
port_exit({exit_status, Status}) ->
    case exit_code(Status) of
        {Name, Meaning} -> io_lib:format("exit status ~b (~ts: ~ts)", [Status, Name, Meaning]);
        unknown -> io_lib:format("exit status ~b (not a code of ferry's)", [Status])
    end;
port_exit({port_closed, epipe}) ->
    %% A write found the pipe closed: the process had exited, and the port
    %% closed before its exit status came (the spawn driver then drops it).
    "its stdin closed under a write (epipe): the Rust process exited and its exit status "
    "was lost; its line on the VM's stderr says why";
port_exit(Why) ->
    io_lib:format("~0tp", [Why]).

exit_code(0) -> {"EXIT_OK", "stdin closed, or drain finished"};
exit_code(2) -> {"EXIT_LISTEN", "could not listen, listen_error sent"};
exit_code(3) -> {"EXIT_BAD_FRAME", "a frame over max_frame, or a first command that is not listen"};
exit_code(4) -> {"EXIT_STDOUT", "its stdout closed or failed"};
exit_code(64) -> {"EXIT_USAGE", "unknown command-line argument"};
exit_code(70) -> {"EXIT_PANIC", "a bug, a panic: its message is on the VM's stderr"};
exit_code(_) -> unknown.

signal_name(1) -> " (SIGHUP)";
signal_name(2) -> " (SIGINT)";
signal_name(6) -> " (SIGABRT)";
signal_name(9) -> " (SIGKILL)";
signal_name(11) -> " (SIGSEGV)";
signal_name(13) -> " (SIGPIPE)";
signal_name(15) -> " (SIGTERM)";
signal_name(_) -> "".
