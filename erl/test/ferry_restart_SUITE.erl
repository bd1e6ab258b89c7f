%% The Rust process's life: killed with -9 it is replaced on the same
%% address (time measured and printed); a crash loop backs off and is
%% reported without taking the supervisors down; when the VM is killed the
%% Rust process exits on stdin EOF and frees the TCP port.
-module(ferry_restart_SUITE).
-include_lib("common_test/include/ct.hrl").
-include_lib("stdlib/include/assert.hrl").

-export([all/0, init_per_suite/1, end_per_suite/1, init_per_testcase/2, end_per_testcase/2]).
-export([kill9_restarts_on_same_address/1, crash_loop_binary_missing/1,
         crash_loop_port_taken/1, vm_killed_rust_exits/1]).

all() ->
    [kill9_restarts_on_same_address, crash_loop_binary_missing, crash_loop_port_taken,
     vm_killed_rust_exits].

init_per_suite(Config) ->
    ferry_test_lib:init_per_suite(Config).

end_per_suite(Config) ->
    ferry_test_lib:end_per_suite(Config).

init_per_testcase(_Case, Config) ->
    ferry_test_lib:capture_logs(),
    Config.

end_per_testcase(_Case, _Config) ->
    _ = [ferry:stop_listener(L) || L <- [restart, loop, taken]],
    ferry_test_lib:stop_capture().

routes() ->
    [{<<"GET">>, <<"/ok">>, fun(_) -> {200, [], <<"ok">>} end},
     {<<"GET">>, <<"/wait/:test">>,
      fun(Req) ->
              ferry_test_lib:path_pid(ferry_req:binding(test, Req)) ! {handler, self()},
              receive never -> {200, [], <<>>} end
      end}].

kill9_restarts_on_same_address(_Config) ->
    Port = ferry_test_lib:start(restart, #{routes => routes()}),
    ?assertMatch({200, _, <<"ok">>}, ok(Port)),
    OsPid = ferry:os_pid(restart),
    Baseline = erlang:system_info(process_count),
    %% A request in flight on the port that dies: lost, handler cleaned up.
    InFlight = ferry_test_lib:connect(Port),
    ferry_test_lib:send_request(InFlight, ["GET /wait/", ferry_test_lib:pid_path(self()),
                                           " HTTP/1.1\r\nhost: x\r\n\r\n"]),
    Handler = receive {handler, H} -> H after 5000 -> ct:fail(no_handler) end,
    Ref = monitor(process, Handler),
    Killed = erlang:monotonic_time(microsecond),
    ferry_test_lib:os_kill(OsPid),
    ok = served_again(Port, Killed + 10000000),
    Served = erlang:monotonic_time(microsecond),
    ct:pal("kill -9 of the port (os pid ~p) to the next successful request: ~.1f ms",
           [OsPid, (Served - Killed) / 1000]),
    NewOsPid = ferry:os_pid(restart),
    ?assertNotEqual(OsPid, NewOsPid),
    ?assertNot(ferry_test_lib:os_alive(OsPid)),
    ?assertEqual(Port, ferry:port_number(restart)),
    ?assertMatch(#{restarts := 1, port := Port}, ferry:info(restart)),
    receive {'DOWN', Ref, process, Handler, _} -> ok
    after 5000 -> ct:fail(in_flight_handler_not_cleaned_up)
    end,
    ?assertMatch({error, _}, gen_tcp:recv(InFlight, 0, 5000)),
    gen_tcp:close(InFlight),
    ferry_test_lib:process_count_settles(Baseline, 5000),
    ferry_test_lib:await_log(fun(#{what := port_down, restart := 1}) -> true; (_) -> false end, 1000).

%% Retries a GET until one is answered 200; connection errors are expected
%% while the new port starts.
served_again(Port, Deadline) ->
    Result = try ok(Port) catch _:_ -> error end,
    case Result of
        {200, _, <<"ok">>} -> ok;
        _ ->
            erlang:monotonic_time(microsecond) < Deadline orelse ct:fail(not_served_again),
            timer:sleep(1),
            served_again(Port, Deadline)
    end.

ok(Port) ->
    ferry_test_lib:raw(Port, <<"GET /ok HTTP/1.1\r\nhost: x\r\n\r\n">>).

crash_loop_binary_missing(Config) ->
    Copy = filename:join(?config(priv_dir, Config), "ferry-copy"),
    {ok, _} = file:copy(ferry_test_lib:binary_path(), Copy),
    ok = file:change_mode(Copy, 8#755),
    Port = ferry_test_lib:start(loop, #{routes => routes(), binary => Copy,
                                        restart_backoff => {20, 400}}),
    Sup = whereis(ferry_sup),
    [ListenerSup] = [P || {{ferry_listener, loop}, P, _, _} <- supervisor:which_children(ferry_sup)],
    ok = file:delete(Copy),
    ferry_test_lib:os_kill(ferry:os_pid(loop)),
    Delays = [begin
                  R = ferry_test_lib:await_log(fun(#{what := port_down}) -> true; (_) -> false end,
                                               5000),
                  maps:get(delay_ms, R)
              end || _ <- lists:seq(1, 6)],
    ct:pal("back-off delays while the binary is missing: ~p ms", [Delays]),
    ?assertEqual(lists:sort(Delays), Delays),
    ?assert(lists:last(Delays) > hd(Delays)),
    ?assert(lists:last(Delays) =< 400),
    ?assertEqual(Sup, whereis(ferry_sup)),
    ?assert(is_process_alive(ListenerSup)),
    ?assertMatch(#{phase := backoff}, ferry:info(loop)),
    %% The binary comes back: the listener serves again on its address.
    {ok, _} = file:copy(ferry_test_lib:binary_path(), Copy),
    ok = file:change_mode(Copy, 8#755),
    ok = served_again(Port, erlang:monotonic_time(microsecond) + 10000000),
    ?assertEqual(Sup, whereis(ferry_sup)).

crash_loop_port_taken(_Config) ->
    Port = ferry_test_lib:start(taken, #{routes => routes(), restart_backoff => {1000, 2000}}),
    ferry_test_lib:os_kill(ferry:os_pid(taken)),
    %% Take the address during the first back-off (1 s; the port is free as
    %% soon as the killed process is gone).
    {ok, Squatter} = take_port(Port, 500),
    R1 = ferry_test_lib:await_log(fun(#{what := port_down, restart := 2}) -> true;
                                     (_) -> false end, 5000),
    ?assertEqual({exit_status, 2}, maps:get(reason, R1)),
    ferry_test_lib:await_log(fun(#{what := port_down, restart := 3}) -> true; (_) -> false end, 5000),
    ?assert(is_process_alive(whereis(ferry_sup))),
    gen_tcp:close(Squatter),
    ok = served_again(Port, erlang:monotonic_time(microsecond) + 10000000).

take_port(Port, Tries) ->
    case gen_tcp:listen(Port, [{ip, {127, 0, 0, 1}}, {reuseaddr, true}]) of
        {ok, S} -> {ok, S};
        {error, eaddrinuse} when Tries > 0 -> timer:sleep(1), take_port(Port, Tries - 1)
    end.

%% A separate VM runs a listener; it is killed with -9. Its Rust process
%% sees EOF on stdin, exits, and the TCP port is free again.
vm_killed_rust_exits(_Config) ->
    Ebin = filename:dirname(code:which(ferry)),
    Eval = "{ok, _} = application:ensure_all_started(ferry),"
           "{ok, _} = ferry:start_listener(x, #{handler => fun(_) -> {200, [], <<>>} end,"
           "                                   ip => <<\"127.0.0.1\">>, port => 0}),"
           "io:format(\"ready ~p ~p ~s~n\", [ferry:port_number(x), ferry:os_pid(x), os:getpid()]),"
           "receive after infinity -> ok end.",
    Erl = os:find_executable("erl"),
    Vm = open_port({spawn_executable, Erl},
                   [{args, ["-noshell", "-noinput", "-pa", Ebin, "-eval", Eval]},
                    {line, 1000}, exit_status, stderr_to_stdout]),
    {Port, RustPid, BeamPid} = read_ready(Vm),
    ?assert(ferry_test_lib:os_alive(RustPid)),
    ?assertMatch({200, _, _}, ferry_test_lib:raw(Port, <<"GET / HTTP/1.1\r\nhost: x\r\n\r\n">>)),
    Killed = erlang:monotonic_time(millisecond),
    ferry_test_lib:os_kill(BeamPid),
    ferry_test_lib:wait_until(fun() -> not ferry_test_lib:os_alive(RustPid) end, 5000),
    Gone = erlang:monotonic_time(millisecond),
    ct:pal("VM killed: its Rust process (os pid ~p) exited after ~p ms", [RustPid, Gone - Killed]),
    ?assertEqual({error, econnrefused},
                 gen_tcp:connect({127, 0, 0, 1}, Port, [binary, {active, false}], 1000)),
    {ok, L} = gen_tcp:listen(Port, [{ip, {127, 0, 0, 1}}, {reuseaddr, true}]),
    gen_tcp:close(L).

read_ready(Vm) ->
    receive
        {Vm, {data, {eol, "ready " ++ Rest}}} ->
            {ok, [Port, RustPid, BeamPid], _} = io_lib:fread("~d ~d ~d", Rest),
            {Port, RustPid, BeamPid};
        {Vm, {data, {_, Line}}} ->
            ct:log("other VM: ~s", [Line]),
            read_ready(Vm);
        {Vm, {exit_status, Status}} ->
            ct:fail("other VM exited ~p", [Status])
    after 20000 ->
            ct:fail(other_vm_not_ready)
    end.
