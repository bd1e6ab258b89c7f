%% Helpers shared by the Common Test suites: start listeners on a free port,
%% talk HTTP to them with httpc and with raw gen_tcp, capture ferry's logger
%% events, and wait (with an upper bound) for things to happen.
-module(ferry_test_lib).

-export([init_per_suite/1, end_per_suite/1, start/2, url/2]).
-export([http/3, http/5, connect/1, send_request/2, raw/2, recv_response/1,
         recv_response/2, recv_head/2, recv_chunk/2]).
-export([capture_logs/0, capture_all_logs/0, stop_capture/0, await_log/2, log/2]).
-export([pid_path/1, path_pid/1, port_owner/1]).
-export([wait_until/2, process_count_settles/2, os_alive/1, os_kill/1, binary_path/0]).
-export([info_within/2]).

%%% Suite set-up

init_per_suite(Config) ->
    {ok, _} = application:ensure_all_started(ferry),
    {ok, _} = application:ensure_all_started(inets),
    %% A dedicated httpc profile with no keep-alive, so a test sees exactly
    %% the connections it makes.
    {ok, _} = inets:start(httpc, [{profile, ferry_test}]),
    ok = httpc:set_options([{max_sessions, 0}, {max_keep_alive_length, 0},
                            {keep_alive_timeout, 0}], ferry_test),
    true = filelib:is_regular(binary_path())
        orelse ct:fail("no port binary at ~s: run `make build` first", [binary_path()]),
    Config.

end_per_suite(_Config) ->
    _ = inets:stop(httpc, ferry_test),
    ok.

binary_path() ->
    filename:join(code:priv_dir(ferry), "ferry").

%% @doc Starts a listener on 127.0.0.1, a free port; returns the port.
start(Name, Opts) ->
    {ok, _} = ferry:start_listener(Name, maps:merge(#{ip => <<"127.0.0.1">>, port => 0}, Opts)),
    ferry:port_number(Name).

url(Port, Path) ->
    "http://127.0.0.1:" ++ integer_to_list(Port) ++ Path.

%%% httpc

http(Method, Port, Path) ->
    http(Method, Port, Path, [], <<>>).

http(Method, Port, Path, Headers, Body) ->
    Url = url(Port, Path),
    Request = case Body of
                  <<>> when Method =/= post, Method =/= put -> {Url, Headers};
                  _ -> {Url, Headers, "application/octet-stream", Body}
              end,
    case httpc:request(Method, Request, [{timeout, 15000}, {autoredirect, false}],
                       [{body_format, binary}], ferry_test) of
        {ok, {{_, Status, _}, RespHeaders, RespBody}} ->
            {Status, [{list_to_binary(N), list_to_binary(V)} || {N, V} <- RespHeaders], RespBody};
        {error, Reason} ->
            {error, Reason}
    end.

%%% Raw gen_tcp

connect(Port) ->
    {ok, S} = gen_tcp:connect({127, 0, 0, 1}, Port, [binary, {active, false}, {packet, raw}], 5000),
    S.

send_request(S, Bytes) ->
    ok = gen_tcp:send(S, Bytes).

%% @doc One request on a fresh connection: {Status, Headers, Body}.
raw(Port, Bytes) ->
    S = connect(Port),
    send_request(S, Bytes),
    Response = recv_response(S),
    gen_tcp:close(S),
    Response.

recv_response(S) -> recv_response(S, 15000).

recv_response(S, Timeout) ->
    case recv_head(S, Timeout) of
        {error, _} = Error -> Error;
        {Status, Headers} -> {Status, Headers, recv_body(S, Headers, Timeout)}
    end.

%% @doc Status line and headers (names lowercased binaries).
recv_head(S, Timeout) ->
    ok = inet:setopts(S, [{packet, http_bin}]),
    case gen_tcp:recv(S, 0, Timeout) of
        {ok, {http_response, _, 100, _}} ->
            _ = recv_headers(S, Timeout, []),
            recv_head(S, Timeout);
        {ok, {http_response, _, Status, _}} ->
            Headers = recv_headers(S, Timeout, []),
            ok = inet:setopts(S, [{packet, raw}]),
            {Status, Headers};
        {error, Reason} ->
            {error, Reason}
    end.

recv_headers(S, Timeout, Acc) ->
    case gen_tcp:recv(S, 0, Timeout) of
        {ok, {http_header, _, Name, _, Value}} ->
            recv_headers(S, Timeout, [{lower(Name), Value} | Acc]);
        {ok, http_eoh} ->
            lists:reverse(Acc)
    end.

lower(Name) when is_atom(Name) -> string:lowercase(atom_to_binary(Name));
lower(Name) -> string:lowercase(Name).

recv_body(S, Headers, Timeout) ->
    case {proplists:get_value(<<"transfer-encoding">>, Headers),
          proplists:get_value(<<"content-length">>, Headers)} of
        {<<"chunked">>, _} -> recv_chunks(S, Timeout, []);
        {_, undefined} -> recv_until_closed(S, Timeout, []);
        {_, <<"0">>} -> <<>>;
        {_, Length} ->
            {ok, Body} = gen_tcp:recv(S, binary_to_integer(Length), Timeout),
            Body
    end.

recv_chunks(S, Timeout, Acc) ->
    case recv_chunk(S, Timeout) of
        {chunk, Data} -> recv_chunks(S, Timeout, [Acc | Data]);
        {trailers, _} -> iolist_to_binary(Acc)
    end.

%% @doc The next chunk of a chunked body, or its end with the trailers.
recv_chunk(S, Timeout) ->
    ok = inet:setopts(S, [{packet, line}]),
    {ok, SizeLine} = gen_tcp:recv(S, 0, Timeout),
    [Hex | _] = binary:split(string:trim(SizeLine), <<";">>),
    case binary_to_integer(Hex, 16) of
        0 ->
            Trailers = recv_trailer_lines(S, Timeout, []),
            ok = inet:setopts(S, [{packet, raw}]),
            {trailers, Trailers};
        Size ->
            ok = inet:setopts(S, [{packet, raw}]),
            {ok, <<Data:Size/binary, "\r\n">>} = gen_tcp:recv(S, Size + 2, Timeout),
            {chunk, Data}
    end.

recv_trailer_lines(S, Timeout, Acc) ->
    case gen_tcp:recv(S, 0, Timeout) of
        {ok, <<"\r\n">>} -> lists:reverse(Acc);
        {ok, Line} ->
            [N, V] = binary:split(string:trim(Line), <<":">>),
            recv_trailer_lines(S, Timeout, [{string:lowercase(N), string:trim(V)} | Acc])
    end.

recv_until_closed(S, Timeout, Acc) ->
    case gen_tcp:recv(S, 0, Timeout) of
        {ok, Data} -> recv_until_closed(S, Timeout, [Acc | Data]);
        {error, closed} -> iolist_to_binary(Acc)
    end.

%%% Logger capture: ferry's events (those of ferry_log, which has no
%%% domain: see there) are sent to the test process as
%%% {ferry_log, Level, Msg, Meta}.

capture_logs() ->
    _ = logger:remove_handler(ferry_test_capture),
    ok = logger:add_handler(ferry_test_capture, ?MODULE, #{config => #{pid => self()},
                                                          level => all}).

%% @doc Every logger event, ferry's or not (supervisor and crash reports
%% too), as {any_log, Level, Msg, Meta}.
capture_all_logs() ->
    _ = logger:remove_handler(ferry_test_capture),
    ok = logger:add_handler(ferry_test_capture, ?MODULE, #{config => #{pid => self(), all => true},
                                                          level => all}).

stop_capture() ->
    _ = logger:remove_handler(ferry_test_capture),
    ok.

%% logger handler callback
log(#{level := Level, msg := Msg, meta := Meta}, #{config := #{pid := Pid, all := true}}) ->
    Pid ! {any_log, Level, Msg, Meta};
log(#{level := Level, msg := Msg, meta := Meta}, #{config := #{pid := Pid}}) ->
    case maps:get(mfa, Meta, undefined) of
        {ferry_log, _, _} -> Pid ! {ferry_log, Level, Msg, Meta};
        _ -> ok
    end.

%% @doc Waits for a captured report for which Pred(Report) is true.
await_log(Pred, Timeout) ->
    receive
        {ferry_log, Level, {report, Report}, _Meta} ->
            case Pred(Report#{level => Level}) of
                true -> Report#{level => Level};
                false -> await_log(Pred, Timeout)
            end;
        {ferry_log, _, _, _} ->
            await_log(Pred, Timeout)
    after Timeout ->
            ct:fail("no such log report within ~p ms", [Timeout])
    end.

%% A pid as a path segment ("0.123.0") and back, to tell a handler whom
%% to report to.
pid_path(Pid) -> string:trim(pid_to_list(Pid), both, "<>").

path_pid(Segment) -> list_to_pid("<" ++ binary_to_list(Segment) ++ ">").

%% @doc The process that owns shard 1's port (ferry_port): whose mailbox
%% every event of the port goes through.
port_owner(Name) ->
    [{_, Pid}] = ets:lookup(ferry_listeners, {Name, 1}),
    Pid.

%%% Waiting

%% @doc Polls Fun every 10 ms until it returns true; fails after Timeout ms
%% (an upper bound that catches hangs, not a timing assertion).
wait_until(Fun, Timeout) ->
    Deadline = erlang:monotonic_time(millisecond) + Timeout,
    wait_until_loop(Fun, Deadline, Timeout).

wait_until_loop(Fun, Deadline, Timeout) ->
    case Fun() of
        true -> ok;
        _ ->
            case erlang:monotonic_time(millisecond) > Deadline of
                true -> ct:fail("condition not met within ~p ms", [Timeout]);
                false -> timer:sleep(10), wait_until_loop(Fun, Deadline, Timeout)
            end
    end.

%% @doc ferry:info(Name) from another process, which must answer within
%% Timeout ms (its Rust process may be stopped): the info map, or the
%% test fails with info_blocked. Keep Timeout under gen_server:call's 5 s,
%% which would exit the caller.
info_within(Name, Timeout) ->
    Self = self(),
    Asker = spawn(fun() -> Self ! {info, self(), catch ferry:info(Name)} end),
    receive
        {info, Asker, Info} -> Info
    after Timeout ->
            exit(Asker, kill),
            ct:fail(info_blocked)
    end.

%% @doc The VM's process count comes back to Baseline: no handler leaked.
process_count_settles(Baseline, Timeout) ->
    wait_until(fun() -> erlang:system_info(process_count) =< Baseline end, Timeout).

%% @doc Is the OS process alive (a zombie counts as dead)?
os_alive(OsPid) ->
    case file:read_file("/proc/" ++ integer_to_list(OsPid) ++ "/stat") of
        {ok, Stat} ->
            [_, AfterName] = string:split(Stat, <<") ">>, trailing),
            binary:first(AfterName) =/= $Z;
        {error, _} ->
            false
    end.

os_kill(OsPid) ->
    _ = os:cmd("kill -9 " ++ integer_to_list(OsPid)),
    ok.
