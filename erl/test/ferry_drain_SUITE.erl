%% stop_listener drains: a request in flight finishes, new connections are
%% refused meanwhile, and the port exits 0.
-module(ferry_drain_SUITE).
-include_lib("common_test/include/ct.hrl").
-include_lib("stdlib/include/assert.hrl").

-export([all/0, init_per_suite/1, end_per_suite/1]).
-export([drain_lets_in_flight_finish/1, drain_timeout_cuts_off/1, shards_share_address/1,
         own_supervisor/1]).
-export([init/1]).

all() ->
    [drain_lets_in_flight_finish, drain_timeout_cuts_off, shards_share_address, own_supervisor].

init_per_suite(Config) ->
    ferry_test_lib:init_per_suite(Config).

end_per_suite(Config) ->
    ferry_test_lib:end_per_suite(Config).

routes() ->
    [{<<"GET">>, <<"/ok">>, fun(_) -> {200, [], <<"ok">>} end},
     {<<"GET">>, <<"/slow/:test">>,
      fun(Req) ->
              ferry_test_lib:path_pid(ferry_req:binding(test, Req)) ! {handler, self()},
              receive go -> {200, [], <<"finished">>} end
      end}].

drain_lets_in_flight_finish(_Config) ->
    ferry_test_lib:capture_logs(),
    Port = ferry_test_lib:start(drain, #{routes => routes(), drain_timeout => 10000}),
    OsPid = ferry:os_pid(drain),
    S = ferry_test_lib:connect(Port),
    ferry_test_lib:send_request(S, ["GET /slow/", ferry_test_lib:pid_path(self()),
                                    " HTTP/1.1\r\nhost: x\r\n\r\n"]),
    Handler = receive {handler, H} -> H after 5000 -> ct:fail(no_handler) end,
    Self = self(),
    Stopper = spawn_link(fun() -> Self ! {stopped, ferry:stop_listener(drain)} end),
    %% The listening socket closes while the request is still in flight.
    ferry_test_lib:wait_until(
      fun() ->
              case gen_tcp:connect({127, 0, 0, 1}, Port, [binary, {active, false}], 1000) of
                  {error, econnrefused} -> true;
                  {ok, C} -> gen_tcp:close(C), false
              end
      end, 5000),
    ?assert(is_process_alive(Stopper)),
    ?assert(is_process_alive(Handler)),
    Handler ! go,
    {200, Headers, Body} = ferry_test_lib:recv_response(S),
    ?assertEqual(<<"finished">>, Body),
    ?assertEqual(<<"close">>, proplists:get_value(<<"connection">>, Headers)),
    receive {stopped, Result} -> ?assertEqual(ok, Result)
    after 15000 -> ct:fail(stop_listener_hung)
    end,
    Report = ferry_test_lib:await_log(fun(#{what := port_drained}) -> true; (_) -> false end, 1000),
    ?assertEqual({exit_status, 0}, maps:get(exit, Report)),
    ferry_test_lib:wait_until(fun() -> not ferry_test_lib:os_alive(OsPid) end, 5000),
    gen_tcp:close(S),
    ferry_test_lib:stop_capture().

%% A handler that never finishes does not hold stop_listener past
%% drain_timeout; its client gets 503 with connection: close, not a bare
%% close (PROTOCOL.md "Control").
drain_timeout_cuts_off(_Config) ->
    Port = ferry_test_lib:start(drain_cut, #{routes => routes(), drain_timeout => 300}),
    S = ferry_test_lib:connect(Port),
    ferry_test_lib:send_request(S, ["GET /slow/", ferry_test_lib:pid_path(self()),
                                    " HTTP/1.1\r\nhost: x\r\n\r\n"]),
    Handler = receive {handler, H} -> H after 5000 -> ct:fail(no_handler) end,
    Ref = monitor(process, Handler),
    ?assertEqual(ok, ferry:stop_listener(drain_cut)),
    receive {'DOWN', Ref, process, Handler, _} -> ok after 5000 -> ct:fail(handler_left) end,
    {503, Headers, _} = ferry_test_lib:recv_response(S, 5000),
    ?assertEqual(<<"close">>, proplists:get_value(<<"connection">>, Headers)),
    gen_tcp:close(S).

%% Several shards listen on one address; all serve; all drain.
shards_share_address(_Config) ->
    Port = ferry_test_lib:start(sharded, #{routes => routes(), shards => 3}),
    Results = [element(1, ferry_test_lib:raw(Port, <<"GET /ok HTTP/1.1\r\nhost: x\r\n\r\n">>))
               || _ <- lists:seq(1, 60)],
    ?assertEqual(lists:duplicate(60, 200), Results),
    #{shards := 3, requests := Requests} = ferry:info(sharded),
    ?assert(Requests >= 60),
    %% Shard 3's Rust process dies: it comes back on the shared port.
    [Shard3] = [P || {{sharded, 3}, P} <- ets:tab2list(ferry_listeners)],
    ferry_test_lib:os_kill(ferry_port:os_pid(Shard3)),
    ferry_test_lib:wait_until(fun() -> maps:get(restarts, ferry:info(sharded)) =:= 1 andalso
                                           is_integer(ferry_port:os_pid(Shard3)) end, 10000),
    ?assertEqual(Port, ferry:port_number(sharded)),
    After = [element(1, ferry_test_lib:raw(Port, <<"GET /ok HTTP/1.1\r\nhost: x\r\n\r\n">>))
             || _ <- lists:seq(1, 30)],
    ?assertEqual(lists:duplicate(30, 200), After),
    ?assertEqual(ok, ferry:stop_listener(sharded)),
    ?assertEqual({error, econnrefused},
                 gen_tcp:connect({127, 0, 0, 1}, Port, [binary, {active, false}], 1000)).

%% A listener in the user's own supervisor (child_spec/2): it serves, a kill
%% of its Rust process is handled below that supervisor (which sees no
%% restart), and stopping the supervisor stops the port.
own_supervisor(_Config) ->
    Spec = ferry:child_spec(mine, #{routes => routes(), ip => <<"127.0.0.1">>, port => 0}),
    {ok, Sup} = supervisor:start_link(?MODULE, Spec),
    Port = ferry:port_number(mine),
    Ok = <<"GET /ok HTTP/1.1\r\nhost: x\r\n\r\n">>,
    ?assertMatch({200, _, <<"ok">>}, ferry_test_lib:raw(Port, Ok)),
    [{_, Child, _, _}] = supervisor:which_children(Sup),
    OsPid = ferry:os_pid(mine),
    ferry_test_lib:os_kill(OsPid),
    ferry_test_lib:wait_until(fun() -> element(1, catch ferry_test_lib:raw(Port, Ok)) =:= 200 end,
                              10000),
    ?assertMatch([{_, Child, _, _}], supervisor:which_children(Sup)),
    ?assertEqual({error, not_found}, ferry:stop_listener(mine)),
    NewOsPid = ferry:os_pid(mine),
    unlink(Sup),
    Ref = monitor(process, Sup),
    exit(Sup, shutdown),
    receive {'DOWN', Ref, process, Sup, _} -> ok after 15000 -> ct:fail(sup_hung) end,
    ferry_test_lib:wait_until(fun() -> not ferry_test_lib:os_alive(NewOsPid) end, 5000),
    ?assertEqual({error, econnrefused},
                 gen_tcp:connect({127, 0, 0, 1}, Port, [binary, {active, false}], 1000)),
    %% Gone from the registry too.
    ?assertError(badarg, ferry:port_number(mine)),
    ?assertError(badarg, ferry:os_pid(mine)).

%% supervisor callback of own_supervisor/1
init(Spec) ->
    {ok, {#{strategy => one_for_one, intensity => 0, period => 1}, [Spec]}}.
