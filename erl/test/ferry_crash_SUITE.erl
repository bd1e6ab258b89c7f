%% Crash isolation: a handler that crashes, returns garbage, is killed,
%% overruns its deadline or loses its client costs its own client a
%% 500/503 (or nothing, when the client is gone) and nothing else: other
%% requests are served, and no process is left behind.
-module(ferry_crash_SUITE).
-include_lib("common_test/include/ct.hrl").
-include_lib("stdlib/include/assert.hrl").

-export([all/0, init_per_suite/1, end_per_suite/1, init_per_testcase/2, end_per_testcase/2]).
-export([crash/1, garbage/1, killed/1, deadline/1, client_gone_busy_handler/1,
         client_gone_while_reading/1, neighbours_unaffected/1, port_timeout_logged/1,
         slow_upload_is_progress/1, owner_forgets_answered/1, bad_response_at_once/1]).

all() ->
    [crash, garbage, killed, deadline, client_gone_busy_handler, client_gone_while_reading,
     neighbours_unaffected, port_timeout_logged, slow_upload_is_progress,
     owner_forgets_answered, bad_response_at_once].

init_per_suite(Config0) ->
    Config = ferry_test_lib:init_per_suite(Config0),
    Routes = [{<<"GET">>, <<"/ok">>, fun(_) -> {200, [], <<"ok">>} end},
              {<<"GET">>, <<"/crash">>, fun(_) -> error(on_purpose) end},
              {<<"GET">>, <<"/throw">>, fun(_) -> throw(on_purpose) end},
              {<<"GET">>, <<"/garbage/:kind">>, fun garbage_h/1},
              {<<"GET">>, <<"/wait/:test">>, fun wait_h/1},
              {<<"POST">>, <<"/read/:test">>, fun read_h/1},
              {<<"GET">>, <<"/slow_stream">>, fun slow_stream_h/1},
              {<<"GET">>, <<"/bad_response/:kind">>, fun bad_response_h/1}],
    %% No deadline here, so the client-gone cases cannot pass by a deadline.
    Port = ferry_test_lib:start(crash, #{routes => Routes, request_timeout => infinity}),
    Deadline = ferry_test_lib:start(crash_deadline, #{routes => Routes, request_timeout => 300}),
    [{port, Port}, {deadline_port, Deadline} | Config].

end_per_suite(Config) ->
    ok = ferry:stop_listener(crash),
    ok = ferry:stop_listener(crash_deadline),
    ferry_test_lib:end_per_suite(Config).

init_per_testcase(_Case, Config) ->
    ferry_test_lib:capture_logs(),
    [{processes, erlang:system_info(process_count)} | Config].

%% The no-leak check of every case: the VM's process count comes back.
end_per_testcase(_Case, Config) ->
    ferry_test_lib:process_count_settles(?config(processes, Config), 5000),
    ferry_test_lib:stop_capture().

%%% Handlers

garbage_h(Req) ->
    case ferry_req:binding(kind, Req) of
        <<"atom">> -> oops;
        <<"headers">> -> {200, not_headers, <<>>};
        <<"body">> -> {200, [], self()};
        <<"done">> -> {done, Req};
        <<"twice">> -> {200, [], <<"a">>, extra}
    end.

%% Responses the port cannot send: each is refused before anything is sent.
bad_response_h(Req) ->
    case ferry_req:binding(kind, Req) of
        <<"status_binary">> -> {done, ferry_req:reply(<<"200">>, [], <<"x">>, Req)};
        <<"status_600">> -> {done, ferry_req:reply(600, [], <<"x">>, Req)};
        <<"status_42">> -> {done, ferry_req:reply(42, [], <<"x">>, Req)};
        <<"stream_status">> -> {done, ferry_req:stream_reply(<<"200">>, [], Req)};
        <<"returned_600">> -> {600, [], <<"x">>};
        <<"body_integer">> -> {done, ferry_req:reply(200, [], 123, Req)};
        <<"header_name">> -> {done, ferry_req:reply(200, [{<<"bad name">>, <<"v">>}], <<"x">>, Req)};
        <<"header_value">> -> {200, [{<<"x-a">>, <<"a\r\nset-cookie: b">>}], <<"x">>};
        <<"header_value_big">> ->
            %% Over the send window: the stream path.
            {done, ferry_req:reply(200, #{<<"x-a">> => <<"a\nb">>}, binary:copy(<<"x">>, 300000),
                                   Req)}
    end.

%% Tells the test its pid, then waits for nothing.
wait_h(Req) ->
    Test = ferry_test_lib:path_pid(ferry_req:binding(test, Req)),
    Test ! {handler, self()},
    receive never -> {200, [], <<"unreachable">>} end.

%% Starts its response at once, finishes it after the deadline.
slow_stream_h(Req0) ->
    Req = ferry_req:stream_reply(200, [], Req0),
    timer:sleep(800),
    {done, ferry_req:stream_body(<<"late but fine">>, fin, Req)}.

%% Reads the body; tells the test when it learns that the client left.
read_h(Req) ->
    Test = ferry_test_lib:path_pid(ferry_req:binding(test, Req)),
    Test ! {handler, self()},
    try ferry_req:read_full_body(Req, 100000000)
    catch exit:{ferry, closed, Reason} = Exit ->
            Test ! {told, Reason},
            exit(Exit)
    end.

%%% Cases

crash(Config) ->
    Port = ?config(port, Config),
    ?assertMatch({500, _, _}, get(Port, "/crash")),
    Report = ferry_test_lib:await_log(fun(#{what := handler_failed, path := <<"/crash">>}) -> true;
                                         (_) -> false end, 5000),
    ?assertMatch(#{level := error, class := error, reason := on_purpose, id := Id,
                   listener := crash} when is_integer(Id), Report),
    ?assertMatch({500, _, _}, get(Port, "/throw")),
    ?assertMatch({200, _, <<"ok">>}, get(Port, "/ok")).

garbage(Config) ->
    Port = ?config(port, Config),
    [begin
         ?assertMatch({500, _, _}, get(Port, "/garbage/" ++ Kind)),
         ferry_test_lib:await_log(fun(#{what := handler_failed, bad_return := _}) -> true;
                                     (_) -> false end, 5000)
     end || Kind <- ["atom", "headers", "body", "done", "twice"]],
    ?assertMatch({200, _, <<"ok">>}, get(Port, "/ok")).

killed(Config) ->
    Port = ?config(port, Config),
    S = send(Port, "/wait/" ++ ferry_test_lib:pid_path(self())),
    Handler = receive {handler, H} -> H after 5000 -> ct:fail(no_handler) end,
    exit(Handler, kill),
    ?assertMatch({500, _, _}, ferry_test_lib:recv_response(S)),
    gen_tcp:close(S),
    ?assertMatch({200, _, <<"ok">>}, get(Port, "/ok")).

deadline(Config) ->
    Port = ?config(deadline_port, Config),
    S = send(Port, "/wait/" ++ ferry_test_lib:pid_path(self())),
    Handler = receive {handler, H} -> H after 5000 -> ct:fail(no_handler) end,
    Ref = monitor(process, Handler),
    %% request_timeout is 300 ms on this listener.
    ?assertMatch({503, _, _}, ferry_test_lib:recv_response(S)),
    ferry_test_lib:await_log(fun(#{what := request_timeout}) -> true; (_) -> false end, 5000),
    receive {'DOWN', Ref, process, Handler, Reason} -> ?assertEqual(killed, Reason)
    after 5000 -> ct:fail(handler_not_killed)
    end,
    gen_tcp:close(S),
    ?assertMatch({200, _, <<"ok">>}, get(Port, "/ok")),
    %% A response that has started is not timed: a stream may live long.
    ?assertMatch({200, _, <<"late but fine">>}, get(Port, "/slow_stream")).

%% The client leaves while its handler is busy elsewhere: the handler is
%% told, and stopped since it does not end by itself.
client_gone_busy_handler(Config) ->
    Port = ?config(port, Config),
    S = send(Port, "/wait/" ++ ferry_test_lib:pid_path(self())),
    Handler = receive {handler, H} -> H after 5000 -> ct:fail(no_handler) end,
    Ref = monitor(process, Handler),
    gen_tcp:close(S),
    receive {'DOWN', Ref, process, Handler, Reason} -> ?assertEqual(killed, Reason)
    after 5000 -> ct:fail(handler_not_stopped)
    end.

%% The client leaves mid-upload: the handler, waiting in read_body, is told.
client_gone_while_reading(Config) ->
    Port = ?config(port, Config),
    S = ferry_test_lib:connect(Port),
    ferry_test_lib:send_request(S, [<<"POST /read/">>, ferry_test_lib:pid_path(self()),
                                    <<" HTTP/1.1\r\nhost: x\r\ncontent-length: 10000000\r\n\r\n">>,
                                    binary:copy(<<"x">>, 100000)]),
    Handler = receive {handler, H} -> H after 5000 -> ct:fail(no_handler) end,
    Ref = monitor(process, Handler),
    gen_tcp:close(S),
    receive {told, Reason} -> ?assertEqual(peer_closed, Reason)
    after 5000 -> ct:fail(handler_not_told)
    end,
    receive {'DOWN', Ref, process, Handler, _} -> ok
    after 5000 -> ct:fail(handler_not_ended)
    end.

%% Crashing handlers and healthy ones side by side: every healthy request
%% gets its 200.
neighbours_unaffected(Config) ->
    Port = ?config(port, Config),
    Self = self(),
    Workers = [spawn_link(fun() ->
                                  Path = case N rem 2 of 0 -> "/ok"; 1 -> "/crash" end,
                                  Results = [element(1, get(Port, Path)) || _ <- lists:seq(1, 20)],
                                  Self ! {done, Path, Results}
                          end) || N <- lists:seq(1, 10)],
    Results = [receive {done, Path, R} -> {Path, R} after 30000 -> ct:fail(worker_hung) end
               || _ <- Workers],
    [?assertEqual(lists:duplicate(20, 200), R) || {"/ok", R} <- Results],
    [?assertEqual(lists:duplicate(20, 500), R) || {"/crash", R} <- Results].

%% The port owner keeps Id <-> Pid entries only while a handler runs: after
%% answered, crashed, thrown, garbage-returning and unrouted requests its
%% process dictionary holds none of them. (A handler that is not linked to
%% the owner leaves both behind for good: under load that grew the owner to
%% 600,000 entries and halved the throughput.)
owner_forgets_answered(Config) ->
    Port = ?config(port, Config),
    [{_, Owner}] = ets:lookup(ferry_listeners, {crash, 1}),
    Paths = ["/ok", "/crash", "/throw", "/garbage/atom", "/nowhere"],
    Codes = [element(1, get(Port, P)) || _ <- lists:seq(1, 40), P <- Paths],
    ?assertEqual(lists:append(lists:duplicate(40, [200, 500, 500, 500, 404])), Codes),
    Entries = fun() ->
                      {dictionary, D} = process_info(Owner, dictionary),
                      [E || {K, _} = E <- D, is_integer(K) orelse is_pid(K)]
              end,
    ferry_test_lib:wait_until(fun() -> Entries() =:= [] end, 5000).

%% Rust's handler_timeout fires first here: its 504 reaches the client, its
%% log line reaches logger, and the handler is stopped.
port_timeout_logged(_Config) ->
    Routes = [{<<"GET">>, <<"/wait/:test">>, fun wait_h/1}],
    Port = ferry_test_lib:start(crash_port_timeout, #{routes => Routes, handler_timeout => 200,
                                                      request_timeout => infinity}),
    try
        S = send(Port, "/wait/" ++ ferry_test_lib:pid_path(self())),
        Handler = receive {handler, H} -> H after 5000 -> ct:fail(no_handler) end,
        Ref = monitor(process, Handler),
        ?assertMatch({504, _, _}, ferry_test_lib:recv_response(S)),
        Log = ferry_test_lib:await_log(fun(#{what := port_log}) -> true; (_) -> false end, 5000),
        ?assertMatch(#{level := warning, message := <<"request ", _/binary>>}, Log),
        receive {'DOWN', Ref, process, Handler, _} -> ok
        after 5000 -> ct:fail(handler_not_stopped)
        end,
        gen_tcp:close(S)
    after
        ok = ferry:stop_listener(crash_port_timeout)
    end.

%% An upload slower than request_timeout, but steady: every read_body call
%% restarts the deadline, so the handler is not killed.
slow_upload_is_progress(_Config) ->
    Self = self(),
    Count = fun Loop(R0, N) ->
                    case ferry_req:read_body(R0, #{length => 1000}) of
                        {ok, D, _} -> N + byte_size(D);
                        {more, D, R} -> Loop(R, N + byte_size(D))
                    end
            end,
    Handler = fun(R) -> Self ! handler_started, {200, [], integer_to_binary(Count(R, 0))} end,
    %% inline_body 0: the request reaches the handler before its body.
    Port = ferry_test_lib:start(crash_slow_upload, #{routes => [{<<"POST">>, <<"/count">>, Handler}],
                                                     request_timeout => 1000, inline_body => 0}),
    try
        S = ferry_test_lib:connect(Port),
        Pieces = 15,
        ferry_test_lib:send_request(S, [<<"POST /count HTTP/1.1\r\nhost: x\r\ncontent-length: ">>,
                                        integer_to_binary(Pieces * 2000), <<"\r\n\r\n">>]),
        receive handler_started -> ok after 5000 -> ct:fail(no_handler) end,
        %% The handler now runs for at least 15 x 100 ms, past its 1000 ms.
        [begin timer:sleep(100), ferry_test_lib:send_request(S, binary:copy(<<"u">>, 2000)) end
         || _ <- lists:seq(1, Pieces)],
        ?assertMatch({200, _, <<"30000">>}, ferry_test_lib:recv_response(S)),
        gen_tcp:close(S)
    after
        ok = ferry:stop_listener(crash_slow_upload)
    end.

%%% Helpers

get(Port, Path) ->
    ferry_test_lib:raw(Port, ["GET ", Path, " HTTP/1.1\r\nhost: x\r\n\r\n"]).

send(Port, Path) ->
    S = ferry_test_lib:connect(Port),
    ferry_test_lib:send_request(S, ["GET ", Path, " HTTP/1.1\r\nhost: x\r\n\r\n"]),
    S.

%% A response ferry cannot send (a status that is not an integer 100..599,
%% a body that is not iodata, a header name that is not a token, a value
%% with CR or LF) is a 500 at once and a report naming the request, not a
%% wait for the port's handler_timeout (60 s here) and its 504.
bad_response_at_once(Config) ->
    Port = ?config(port, Config),
    [begin
         ?assertMatch({500, _, _}, get(Port, "/bad_response/" ++ Kind), Kind),
         Report = ferry_test_lib:await_log(
                    fun(#{what := handler_failed, path := <<"/bad_response/", _/binary>>}) -> true;
                       (_) -> false end, 5000),
         ?assertEqual(iolist_to_binary(["/bad_response/", Kind]), maps:get(path, Report))
     end || Kind <- ["status_binary", "status_600", "status_42", "stream_status", "returned_600",
                     "body_integer", "header_name", "header_value", "header_value_big"]],
    ?assertMatch({200, _, <<"ok">>}, get(Port, "/ok")).
