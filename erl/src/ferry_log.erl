%% @doc ferry's logger reports: structured maps with a `what' saying which
%% event, so tools (and tests) can read the fields and people get one line.
%% Levels: handler failures, port deaths and refused commands are errors; a
%% restart, an orderly drain and the address a listener serves are notices;
%% the Rust process's own lines keep the level it gave them.
%%
%% The reports carry no `domain': OTP's default handler drops every domain
%% but `[otp]' and `[otp, sasl]', so a domain would hide a crashing handler
%% from a plain `erl' or `rebar3 shell' (Cowboy and Ranch log without one
%% too). Their `mfa' names this module, so `logger:set_application_level(
%% ferry, Level)' tunes them; `listener', `request_id', `method', `path' and
%% `handler' are logger metadata as well as fields of the report.
%%
%% The report callback returns its line already formatted, as `{"~ts",
%% [Line]}': Elixir's Logger formats Erlang format strings itself, and reads
%% `~0p' (one line in Erlang) as a width of 0, breaking every term.
-module(ferry_log).

-export([report/2, format/1, port_exit/1, name/1, request_id/2]).

-define(DEPTH, 30).

-spec report(logger:level(), #{what := atom(), listener => atom(), atom() => term()}) -> ok.
report(Level, Report) ->
    logger:log(Level, Report, metadata(Report)).

metadata(Report) ->
    Meta = maps:with([listener, method, path, handler], Report),
    Id = case Report of
             #{id := N, os_pid := OsPid} -> #{request_id => request_id(OsPid, N)};
             #{id := N} -> #{request_id => request_id(undefined, N)};
             _ -> #{}
         end,
    maps:merge(Meta#{report_cb => fun ?MODULE:format/1, mfa => {?MODULE, report, 2}}, Id).

%% @doc A request's id as people see it: the wire id restarts at 0 with
%% each Rust process, so it is qualified by that process's os pid, which
%% makes it unique across restarts (`<<"4711-24">>').
-spec request_id(non_neg_integer() | undefined, non_neg_integer() | undefined) -> binary().
request_id(undefined, Id) -> iolist_to_binary(io_lib:format("~p", [Id]));
request_id(OsPid, Id) -> iolist_to_binary(io_lib:format("~p-~p", [OsPid, Id])).

%% @doc A listener, router or handler module as Elixir and Erlang users
%% both write it: `MyApp.HTTP' for an Elixir alias, `my_listener' otherwise.
-spec name(atom()) -> unicode:chardata().
name(Atom) when is_atom(Atom) ->
    case atom_to_binary(Atom) of
        <<"Elixir.", Alias/binary>> -> Alias;
        Text -> Text
    end;
name(Other) ->
    term(Other).

%% @doc The report_cb: one readable line per report.
-spec format(map()) -> {io:format(), [unicode:chardata()]}.
format(Report) ->
    {"~ts", [line(Report)]}.

line(#{what := handler_failed} = R) ->
    Where = [listener(R), ", ", request(R)],
    case R of
        #{bad_frame := Frame} ->
            [Where, ": request frame not understood: ", term(Frame)];
        #{bad_response := {frame_too_large, Bytes, Max}} ->
            f("~ts: response refused, answered 500: its frame of ~b bytes is over the port's "
              "max_frame (~b bytes), which would make the port exit", [Where, Bytes, Max]);
        #{bad_response := {content_length, Values, Size}} ->
            f("~ts: response refused, answered 500: content-length ~ts does not announce "
              "its body of ~b bytes", [Where, term(Values), Size]);
        #{bad_response := {status, Status}} ->
            [Where, ": response refused, answered 500: its status ", term(Status),
             " is not an integer 100..599"];
        #{bad_response := {header, Name, Value}} ->
            [Where, ": response refused, answered 500: header ", term(Name), " => ", term(Value),
             " is not a token name with a value free of CR, LF and NUL (RFC 9110 5.1, 5.5)"];
        #{bad_response := Why} ->
            [Where, ": response refused, answered 500: ", term(Why)];
        #{bad_return := {Status, _, _}, why := informational} ->
            f("~ts: handler returned ~p, an informational status, which is not a final "
              "answer (send a 1xx with ferry_req:reply/4); answered 500", [Where, Status]);
        #{bad_return := Result, why := Why} ->
            f("~ts: handler asked for a WebSocket upgrade ferry cannot make (~ts): ~ts",
              [Where, term(Why), term(Result)]);
        #{bad_return := Result} ->
            [Where, ": handler returned something that is not an answer "
             "({Status, Headers, Body} or {done, Req}); answered 500: ", term(Result)];
        #{class := Class, reason := Reason, stacktrace := Stack} ->
            [Where, ": handler crashed; answered 500:\n",
             erl_error:format_exception(Class, Reason, Stack)]
    end;
line(#{what := handler_exit, reason := Reason} = R) ->
    [listener(R), ": handler of ", request(R), " exited without answering: ", term(Reason),
     "; answered 500"];
line(#{what := websocket_crashed, module := M, callback := F, class := Class,
       reason := Reason} = R) ->
    Where = [listener(R), ", WebSocket ", request(maps:remove(path, R)), " ",
             text(maps:get(path, R, <<>>)), " (", name(M), ":", atom_to_list(F), ")"],
    %% terminate/3 runs once the connection is over: nothing to close.
    Closed = case F of
                 terminate -> "";
                 _ -> "; closed with 1011"
             end,
    case Reason of
        {ferry_websocket, bad_return, Value} ->
            [Where, " returned something that is not a call_result: ", term(Value), Closed];
        {ferry_websocket, bad_command, Command} ->
            [Where, " asked for a command ferry cannot send: ", term(Command),
             " (text and binary take iodata; ping and pong at most 125 bytes; close codes "
             "1000-1003, 1007-1014, 3000-4999 with at most 123 bytes of reason)", Closed];
        {ferry_websocket, too_large, Op, Bytes, MaxFrame} ->
            f("~ts asked to send a ~p message of ~b bytes, over the port's max_frame (~b)~ts",
              [Where, Op, Bytes, MaxFrame, Closed]);
        _ ->
            [Where, " crashed", Closed, ":\n",
             erl_error:format_exception(Class, Reason, maps:get(stacktrace, R, []))]
    end;
line(#{what := websocket_exit, reason := Reason} = R) ->
    [listener(R), ": the process of WebSocket ", request(R), " exited: ", term(Reason),
     "; closed with 1011"];
line(#{what := request_timeout} = R) ->
    [listener(R), ": handler of ", request(R), " overran request_timeout",
     case R of
         #{timeout_ms := Ms} -> f(" (~b ms)", [Ms]);
         _ -> ""
     end, "; answered 503, killed"];
line(#{what := port_down, reason := Why, os_pid := OsPid, restart := N, delay_ms := Delay} = R) ->
    f("~ts: the Rust process (os pid ~p) went down: ~ts; restart ~p in ~p ms",
      [listener(R), OsPid, port_exit(Why), N, Delay]);
line(#{what := port_restarted, os_pid := OsPid, restarts := N} = R) ->
    f("~ts: the Rust process restarted (os pid ~p) after ~p restart(s)", [listener(R), OsPid, N]);
line(#{what := port_hung, os_pid := OsPid, timeout_ms := Ms} = R) ->
    f("~ts: the Rust process (os pid ~p) did not answer a stats request within ~b ms, "
      "and wrote nothing in that time: killing it (it restarts)", [listener(R), OsPid, Ms]);
line(#{what := port_drained, exit := Why} = R) ->
    [listener(R), ": the Rust process drained, ", port_exit(Why)];
line(#{what := port_log, message := Message} = R) ->
    [listener(R), " (Rust process): ", text(Message)];
line(#{what := protocol_error, message := Message} = R) ->
    [listener(R), ": the Rust process refused a command for ", request(R), ": ", text(Message)];
line(#{what := listening, ip := Ip, port := Port} = R) ->
    Shards = case R of
                 #{shards := 1} -> "";
                 #{shards := N} -> f(", ~b shards", [N]);
                 _ -> ""
             end,
    ["Running ", handlers(maps:get(handler, R)), " with Ferry ",
     maps:get(version, R, "?"), " at ", address(Ip, Port),
     " (", atom_to_list(maps:get(scheme, R, http)), "), listener ",
     name(maps:get(listener, R)), Shards];
line(#{what := start_failed, reason := Reason} = R) ->
    %% The detail, when there is one, says it all and better.
    [listener(R), ": could not start: ",
     case maps:get(detail, R, "") of
         "" -> ferry:format_error(Reason);
         Detail -> text(Detail)
     end];
line(#{what := telemetry_handler_failed, handler_id := Id, event := Event, class := Class,
       reason := Reason} = R) ->
    ["ferry: event handler ", term(Id), " crashed on ", term(Event), " and was detached:\n",
     erl_error:format_exception(Class, Reason, maps:get(stacktrace, R, []))];
line(#{what := topic_broadcasts_dropped, dropped := N, backlog := Backlog}) ->
    f("ferry: the topic forwarder of this node cannot keep up: ~b broadcasts from other "
      "nodes dropped, the oldest of more than ~b waiting (ferry_pubsub:dropped/0 counts them all)",
      [N, Backlog]);
line(#{what := unexpected_frame, frame := Frame} = R) ->
    [listener(R), ": unexpected frame from the Rust process: ", term(Frame)];
line(Report) ->
    ["ferry: ", term(Report)].

listener(#{listener := L}) -> ["ferry listener ", name(L)];
listener(_) -> "ferry".

%% "request 4711-3 GET /p (handler my_h)", with what the report knows.
request(R) ->
    Id = request_id(maps:get(os_pid, R, undefined), maps:get(id, R, undefined)),
    ["request ", Id,
     case R of
         #{method := M, path := P} -> [" ", text(M), " ", text(P)];
         _ -> ""
     end,
     case R of
         #{handler := H} -> [" (handler ", handler(H), ")"];
         _ -> ""
     end].

handler(H) when is_atom(H) -> name(H);
handler(H) -> term(H).

handlers({routes, 1, undefined}) -> "1 route";
handlers({routes, N, undefined}) -> f("~b routes", [N]);
handlers({routes, N, CatchAll}) -> [handlers({routes, N, undefined}), " and ", handler(CatchAll)];
handlers(H) -> handler(H).

address(Ip, Port) when is_tuple(Ip), tuple_size(Ip) =:= 8 -> f("[~ts]:~b", [inet:ntoa(Ip), Port]);
address(Ip, Port) when is_tuple(Ip) -> f("~ts:~b", [inet:ntoa(Ip), Port]);
address(Ip, Port) when is_binary(Ip) ->
    case binary:match(Ip, <<":">>) of
        nomatch -> f("~ts:~b", [Ip, Port]);
        _ -> f("[~ts]:~b", [Ip, Port])
    end;
address(Ip, Port) -> f("~ts:~b", [term(Ip), Port]).

%% A term on one line, its depth bounded.
term(T) -> io_lib:format("~0tP", [T, ?DEPTH]).

%% Client bytes (a path, a message): as text when they are UTF-8, else
%% as a binary literal, which cannot fail to print.
text(B) when is_binary(B) ->
    case unicode:characters_to_binary(B) of
        B -> B;
        _ -> io_lib:format("~w", [B])
    end;
text(Chars) when is_list(Chars) ->
    case unicode:characters_to_binary(Chars) of
        B when is_binary(B) -> B;
        _ -> term(Chars)
    end;
text(Other) -> term(Other).

f(Format, Args) -> io_lib:format(Format, Args).

%% @doc Why a port went down, for people: an exit status with the name and
%% meaning of its code (docs/PROTOCOL.md "Exit codes", src/exit.rs), or the
%% signal that killed the process.
-spec port_exit(term()) -> unicode:chardata().
port_exit({exit_status, Status}) when Status > 128 ->
    f("exit status ~b: killed by signal ~b~ts", [Status, Status - 128, signal_name(Status - 128)]);
port_exit({exit_status, Status}) ->
    case exit_code(Status) of
        {Name, Meaning} -> f("exit status ~b (~ts: ~ts)", [Status, Name, Meaning]);
        unknown -> f("exit status ~b (not a code of ferry's)", [Status])
    end;
port_exit({port_closed, epipe}) ->
    %% A write found the pipe closed: the process had exited, and the port
    %% closed before its exit status came (the spawn driver then drops it).
    "it exited while a command was being written to it, and the port closed on the failed "
    "write (epipe) before its exit status came; Ferry did not stop it. An exit of its own "
    "(a panic, a bad frame) leaves a line on the VM's stderr; none there means a signal "
    "from outside (kill -9, the OOM killer)";
port_exit(hung) ->
    "it stopped answering (killed by ferry)";
port_exit({hung, {exit_status, 137}}) ->
    "killed by the heartbeat with SIGKILL (exit status 137): it made no progress for heartbeat_timeout";
port_exit({hung, _Port}) ->
    %% The port closed under a write before the status came (epipe).
    "killed by the heartbeat with SIGKILL: it made no progress for heartbeat_timeout";
port_exit(Why) ->
    term(Why).

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
