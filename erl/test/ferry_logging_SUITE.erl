%% What people see in their logs: in a plain VM with OTP's default logger
%% configuration (no Elixir, no CT handler), a crashing handler, a bad
%% return, a request_timeout and a Rust process killed and restarted all
%% print, as does the address a listener serves; a failed start is one line
%% and no supervisor or crash report; reports about a request carry its
%% method, path, handler and a request id unique across Rust processes, in
%% the report and in logger metadata.
-module(ferry_logging_SUITE).
-include_lib("common_test/include/ct.hrl").
-include_lib("stdlib/include/assert.hrl").

-export([all/0, init_per_suite/1, end_per_suite/1, init_per_testcase/2, end_per_testcase/2]).
-export([plain_vm_prints_failures/1, request_reports_have_context/1,
         request_ids_differ_across_restarts/1, listening_line_once/1]).
%% Run in the plain VM.
-export([plain_vm_main/0]).

all() ->
    [plain_vm_prints_failures, request_reports_have_context, request_ids_differ_across_restarts,
     listening_line_once].

init_per_suite(Config) ->
    ferry_test_lib:init_per_suite(Config).

end_per_suite(Config) ->
    ferry_test_lib:end_per_suite(Config).

init_per_testcase(_Case, Config) ->
    ferry_test_lib:capture_logs(),
    Config.

end_per_testcase(_Case, _Config) ->
    _ = [ferry:stop_listener(L) || L <- [logged, logged_restart, logged_shards]],
    ferry_test_lib:stop_capture().

routes(Test) ->
    [{<<"GET">>, <<"/crash">>, fun(_) -> error(crash_on_purpose) end},
     {<<"GET">>, <<"/bad">>, fun(_) -> not_an_answer end},
     {<<"GET">>, <<"/slow">>, fun(_) -> Test ! {handler, self()}, timer:sleep(infinity) end},
     {<<"GET">>, <<"/ok">>, fun(_) -> {200, [], <<"ok">>} end}].

%%% A plain VM

%% `erl -noshell' with ferry's ebin and nothing else: OTP's default
%% logger handler, as in `rebar3 shell'. Its output (stdout and stderr) is
%% everything a newcomer would see.
plain_vm_prints_failures(_Config) ->
    Ebins = [filename:dirname(code:which(M)) || M <- [ferry, ?MODULE]],
    Erl = os:find_executable("erl"),
    Vm = open_port({spawn_executable, Erl},
                   [{args, ["-noshell", "-noinput" | lists:append([["-pa", E] || E <- Ebins])]
                     ++ ["-eval", "ferry_logging_SUITE:plain_vm_main()"]},
                    {line, 4096}, exit_status, stderr_to_stdout]),
    Lines = read_all(Vm, erlang:monotonic_time(millisecond) + 60000, []),
    Output = lists:flatten(lists:join("\n", Lines)),
    ct:log("plain VM output:~n~ts", [Output]),
    Has = fun(Part) -> string:find(Output, Part) =/= nomatch end,
    Count = fun(Part) -> length(string:split(Output, Part, all)) - 1 end,
    ?assert(Has("plain vm done")),
    ?assert(Has("/crash (handler #Fun<")),
    ?assert(Has("handler crashed; answered 500")),
    ?assert(Has("crash_on_purpose")),
    ?assert(Has("/bad (handler ")),
    ?assert(Has("handler returned something that is not an answer")),
    ?assert(Has("GET /slow (handler ")),
    ?assert(Has("overran request_timeout (200 ms); answered 503")),
    ?assert(Has("went down: exit status 137: killed by signal 9 (SIGKILL)")),
    ?assert(Has("the Rust process restarted (os pid ")),
    ?assert(Has("Running 4 routes with Ferry ")),
    %% A failed start: one line naming the listener and saying why, not a
    %% page of supervisor and crash reports, nor a second line from Rust.
    ?assertEqual(1, Count("ferry listener plain_taken")),
    ?assert(Has("ferry listener plain_taken: could not start: cannot listen (eaddrinuse)")),
    ?assertNot(Has("SUPERVISOR REPORT")),
    ?assertNot(Has("CRASH REPORT")),
    ?assertNot(Has("listen failed")),
    ?assertEqual(1, Count("ferry listener plain_bad: could not start: ")),
    ?assert(Has("ferry listener plain_bad: could not start: option max_request_line => 1 must be "
                "an integer 16..1048576")).

read_all(Vm, Deadline, Acc) ->
    receive
        {Vm, {data, {_, Line}}} -> read_all(Vm, Deadline, [Line | Acc]);
        {Vm, {exit_status, 0}} -> lists:reverse(Acc);
        {Vm, {exit_status, Status}} ->
            ct:fail("plain VM exited ~p:~n~ts", [Status, lists:join("\n", lists:reverse(Acc))])
    after max(0, Deadline - erlang:monotonic_time(millisecond)) ->
            ct:fail("plain VM still running:~n~ts", [lists:join("\n", lists:reverse(Acc))])
    end.

%% @private The plain VM's script: every failure a newcomer meets first.
plain_vm_main() ->
    try
        {ok, _} = application:ensure_all_started(ferry),
        {ok, _} = ferry:start_listener(plain, #{ip => <<"127.0.0.1">>, port => 0,
                                                routes => routes(self()),
                                                request_timeout => 200}),
        Port = ferry:port_number(plain),
        [{500, _, _} = ferry_test_lib:raw(Port, ["GET ", P, " HTTP/1.1\r\nhost: x\r\n\r\n"])
         || P <- ["/crash", "/bad"]],
        {503, _, _} = ferry_test_lib:raw(Port, <<"GET /slow HTTP/1.1\r\nhost: x\r\n\r\n">>),
        OsPid = ferry:os_pid(plain),
        ferry_test_lib:os_kill(OsPid),
        ferry_test_lib:wait_until(
          fun() -> not lists:member(ferry:os_pid(plain), [OsPid, undefined]) end, 10000),
        {error, {listen_error, eaddrinuse, _}} =
            ferry:start_listener(plain_taken, #{ip => <<"127.0.0.1">>, port => Port,
                                                routes => routes(self())}),
        {error, {bad_option, max_request_line}} =
            ferry:start_listener(plain_bad, #{ip => <<"127.0.0.1">>, port => 0,
                                              routes => routes(self()), max_request_line => 1}),
        ok = ferry:stop_listener(plain),
        io:format("plain vm done~n")
    catch Class:Reason:Stack ->
            io:format("plain vm failed: ~p:~p ~p~n", [Class, Reason, Stack])
    end,
    %% The default handler writes asynchronously.
    logger_std_h:filesync(default),
    erlang:halt(0).

%%% Reports about a request

request_reports_have_context(_Config) ->
    Port = ferry_test_lib:start(logged, #{routes => routes(self()), request_timeout => 200}),
    OsPid = ferry:os_pid(logged),
    Id = fun(#{id := N}) -> iolist_to_binary([integer_to_list(OsPid), "-", integer_to_list(N)]) end,
    ?assertMatch({503, _, _}, ferry_test_lib:raw(Port, <<"GET /slow HTTP/1.1\r\nhost: x\r\n\r\n">>)),
    {Timeout, Meta} = await(request_timeout),
    ?assertMatch(#{method := <<"GET">>, path := <<"/slow">>, handler := _, os_pid := OsPid,
                   timeout_ms := 200}, Timeout),
    ?assertMatch(#{listener := logged, method := <<"GET">>, path := <<"/slow">>,
                   handler := _}, Meta),
    ?assertEqual(Id(Timeout), maps:get(request_id, Meta)),
    ?assertMatch({500, _, _}, ferry_test_lib:raw(Port, <<"GET /crash HTTP/1.1\r\nhost: x\r\n\r\n">>)),
    {Crash, CrashMeta} = await(handler_failed),
    ?assertMatch(#{method := <<"GET">>, path := <<"/crash">>, os_pid := OsPid}, Crash),
    ?assertEqual(Id(Crash), maps:get(request_id, CrashMeta)).

%% Request ids restart at 0 with each Rust process; the ids in the logs
%% do not.
request_ids_differ_across_restarts(_Config) ->
    Port = ferry_test_lib:start(logged_restart, #{routes => routes(self())}),
    Crash = <<"GET /crash HTTP/1.1\r\nhost: x\r\n\r\n">>,
    ?assertMatch({500, _, _}, ferry_test_lib:raw(Port, Crash)),
    {First, FirstMeta} = await(handler_failed),
    OsPid = ferry:os_pid(logged_restart),
    ferry_test_lib:os_kill(OsPid),
    ferry_test_lib:wait_until(
      fun() -> not lists:member(ferry:os_pid(logged_restart), [OsPid, undefined]) end, 10000),
    ?assertMatch({500, _, _}, ferry_test_lib:raw(Port, Crash)),
    {Second, SecondMeta} = await(handler_failed),
    %% The wire ids are equal (each the first request of its process) ...
    ?assertEqual(maps:get(id, First), maps:get(id, Second)),
    %% ... the logged ones are not.
    ?assertNotEqual(maps:get(request_id, FirstMeta), maps:get(request_id, SecondMeta)).

%% One "Running ..." line per listener, however many shards.
listening_line_once(_Config) ->
    Port = ferry_test_lib:start(logged_shards, #{routes => routes(self()), shards => 2}),
    {Report, _} = await(listening),
    ?assertMatch(#{listener := logged_shards, ip := <<"127.0.0.1">>, port := Port, shards := 2,
                   level := notice}, Report),
    receive
        {ferry_log, _, {report, #{what := listening}}, _} = Again -> ct:fail({twice, Again})
    after 500 -> ok
    end.

await(What) ->
    receive
        {ferry_log, Level, {report, #{what := What} = Report}, Meta} ->
            {Report#{level => Level}, Meta}
    after 10000 ->
            ct:fail({no_report, What})
    end.
