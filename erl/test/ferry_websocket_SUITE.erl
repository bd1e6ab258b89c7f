%% WebSocket end to end: the real binary, real sockets, and a client of our
%% own (ferry_ws_client). The upgrade and its refusals, a cowboy-style
%% echo handler, pushes from websocket_info, closes from either side, a
%% crashing handler (1011, the VM and its neighbours fine), back-pressure
%% both ways, groups (200 members get one publish each), and a kill -9 of
%% the Rust process with 500 WebSockets open.
-module(ferry_websocket_SUITE).
-include_lib("common_test/include/ct.hrl").
-include_lib("stdlib/include/assert.hrl").

-behaviour(ferry_websocket).
-export([websocket_init/1, websocket_handle/2, websocket_info/2, terminate/3]).

-export([all/0, init_per_suite/1, end_per_suite/1, init_per_testcase/2, end_per_testcase/2]).
-export([not_a_handshake_400/1, bad_handshake_400/1, bad_version_426/1, echo/1,
         push_from_info/1, close_with_code/1, crash_closes_1011/1, bad_return_closes_1011/1,
         client_close_terminate_remote/1, subprotocol_and_headers/1,
         protocol_not_offered_500/1, request_timeout_does_not_apply/1, hibernate/1,
         slow_handler_back_pressure/1, slow_client_blocks_pusher/1,
         publish_to_group_of_200/1, publish_from_skips_sender/1, send_to_conns/1,
         stop_listener_shutdown/1, kill9_with_500_open/1, idle_sockets_cost_the_owner_nothing/1,
         hibernate_after_idle/1, upgrade_heap_is_left_behind/1, no_terminate_keeps_no_request/1]).

-define(MB, 1048576).
%% Small, so that the back-pressure bound is tight.
-define(BODY_WINDOW, 65536).

all() ->
    [not_a_handshake_400, bad_handshake_400, bad_version_426, echo, push_from_info,
     close_with_code, crash_closes_1011, bad_return_closes_1011, client_close_terminate_remote,
     subprotocol_and_headers, protocol_not_offered_500, request_timeout_does_not_apply,
     hibernate, slow_handler_back_pressure, slow_client_blocks_pusher,
     publish_to_group_of_200, publish_from_skips_sender, send_to_conns,
     stop_listener_shutdown, kill9_with_500_open, idle_sockets_cost_the_owner_nothing,
     hibernate_after_idle, upgrade_heap_is_left_behind, no_terminate_keeps_no_request].

init_per_suite(Config0) ->
    Config = ferry_test_lib:init_per_suite(Config0),
    Port = ferry_test_lib:start(ws, #{routes => routes(), body_window => ?BODY_WINDOW,
                                      request_timeout => infinity}),
    [{port, Port} | Config].

end_per_suite(Config) ->
    ok = ferry:stop_listener(ws),
    ferry_test_lib:end_per_suite(Config).

init_per_testcase(_Case, Config) ->
    ferry_test_lib:capture_logs(),
    [{processes, erlang:system_info(process_count)} | Config].

%% The no-leak check of every case: the VM's process count comes back.
end_per_testcase(_Case, Config) ->
    _ = [ferry:stop_listener(L) || L <- [ws_deadline, ws_stop]],
    ferry_test_lib:process_count_settles(?config(processes, Config), 10000),
    ferry_test_lib:stop_capture().

routes() ->
    [{<<"GET">>, <<"/plain">>, fun(_) -> {200, [], <<"ok">>} end},
     {<<"GET">>, <<"/ws/:mode/:test">>, fun upgrade/1}].

%%% The handler: tells the test its pid and conn, echoes, and does what
%%% some texts say.

upgrade(Req) ->
    Test = ferry_test_lib:path_pid(ferry_req:binding(test, Req)),
    State = #{mode => ferry_req:binding(mode, Req), test => Test,
              group => ferry_req:binding(test, Req)},
    case ferry_req:binding(mode, Req) of
        <<"proto">> ->
            {websocket, ?MODULE, State, #{protocol => <<"chat">>,
                                          headers => [{<<"set-cookie">>, <<"id=1">>}]}};
        <<"wrongproto">> ->
            {websocket, ?MODULE, State, #{protocol => <<"mqtt">>}};
        <<"hibernate">> ->
            {websocket, ?MODULE, State, #{hibernate => true}};
        <<"fat">> ->
            %% Work before the upgrade (a session decoded, say) grows the heap.
            5000 = length(lists:reverse(lists:seq(1, 5000))),
            {websocket, ?MODULE, State};
        <<"noterminate">> ->
            {websocket, ferry_ws_echo_h, Test};
        <<"hibernate_after">> ->
            {websocket, ?MODULE, State, #{hibernate_after => 300}};
        _ ->
            {websocket, ?MODULE, State}
    end.

websocket_init(#{mode := Mode, test := Test, group := Group} = S) ->
    Mode =:= <<"room">> andalso ferry_ws:join(Group),
    Test ! {ws, self(), ferry_ws:self()},
    {ok, S}.

websocket_handle({text, <<"close">>}, S) ->
    {reply, {close, 4000, <<"bye">>}, S};
websocket_handle({text, <<"stop">>}, S) ->
    {stop, S};
websocket_handle({text, <<"crash">>}, _S) ->
    error(on_purpose);
websocket_handle({text, <<"garbage">>}, _S) ->
    not_a_call_result;
websocket_handle({text, <<"say:", Said/binary>>}, #{group := Group} = S) ->
    ok = ferry_ws:publish_from(Group, [{text, Said}]),
    {ok, S};
websocket_handle({text, <<"block">>}, #{test := Test} = S) ->
    Test ! {blocked, self()},
    receive go -> {ok, S} end;
websocket_handle(Frame, S) ->
    {reply, Frame, S}.

websocket_info({push, Frames}, S) ->
    {Frames, S};
websocket_info({push_parts, 0}, S) ->
    {ok, S};
websocket_info({push_parts, N}, #{test := Test} = S) ->
    Test ! {pushing, N},
    self() ! {push_parts, N - 1},
    {[{binary, binary:copy(<<"p">>, ?MB)}], S};
websocket_info(_Info, S) ->
    {ok, S}.

terminate(Reason, Req, #{test := Test}) ->
    Test ! {terminate, self(), Reason, maps:get(path, Req)}.

%%% Helpers

path(Mode) ->
    [<<"/ws/">>, Mode, $/, ferry_test_lib:pid_path(self())].

open(Config, Mode) -> open(Config, Mode, []).

%% A WebSocket to `/ws/Mode/<this test>': the socket, its process, its conn.
open(Config, Mode, Headers) ->
    {ok, S, _} = ferry_ws_client:connect(?config(port, Config), path(Mode), Headers),
    {Pid, Conn} = ws_process(),
    {S, Pid, Conn}.

ws_process() ->
    receive {ws, Pid, Conn} -> {Pid, Conn}
    after 15000 -> ct:fail(no_websocket_process)
    end.

terminated(Pid) ->
    receive {terminate, Pid, Reason, _Path} -> Reason
    after 15000 -> ct:fail({not_terminated, Pid})
    end.

recv(S) -> ferry_ws_client:recv(S).

%% Plain HTTP to the same listener.
plain(Port) ->
    ferry_test_lib:raw(Port, <<"GET /plain HTTP/1.1\r\nhost: x\r\n\r\n">>).

handshake_refused(Config, Headers) ->
    S = ferry_test_lib:connect(?config(port, Config)),
    Result = ferry_ws_client:handshake(S, path(<<"echo">>), Headers),
    gen_tcp:close(S),
    Result.

%%% Cases

%% A plain GET to a WebSocket route: 400, and the handler's process is
%% gone (no WebSocket was made).
not_a_handshake_400(Config) ->
    {Status, _, Body} = ferry_test_lib:raw(?config(port, Config),
                                           [<<"GET ">>, path(<<"echo">>),
                                            <<" HTTP/1.1\r\nhost: x\r\n\r\n">>]),
    ?assertEqual(400, Status),
    ?assertMatch({_, _}, binary:match(Body, <<"RFC 6455">>)).

bad_handshake_400(Config) ->
    {error, {status, Status, _, Body}} =
        handshake_refused(Config, [{<<"sec-websocket-key">>, <<"too short">>}]),
    ?assertEqual(400, Status),
    ?assertMatch({_, _}, binary:match(Body, <<"not a valid WebSocket opening handshake">>)).

bad_version_426(Config) ->
    {error, {status, Status, Headers, _}} =
        handshake_refused(Config, [{<<"sec-websocket-version">>, <<"8">>}]),
    ?assertEqual(426, Status),
    ?assertEqual(<<"13">>, proplists:get_value(<<"sec-websocket-version">>, Headers)).

echo(Config) ->
    {S, Pid, _} = open(Config, <<"echo">>),
    Messages = [{text, <<"hello">>}, {binary, <<0, 1, 2, 255>>}, {text, <<>>},
                {text, <<"héllo wörld ✓"/utf8>>},
                %% Larger than body_window and send_window: one message
                %% may pass either when nothing else is in flight.
                {binary, crypto:strong_rand_bytes(300000)}],
    [begin
         ferry_ws_client:send(S, Op, Data),
         ?assertEqual({Op, Data}, recv(S))
     end || {Op, Data} <- Messages],
    ferry_ws_client:close(S),
    ?assertMatch({remote, 1000, _}, terminated(Pid)).

push_from_info(Config) ->
    {S, Pid, _} = open(Config, <<"echo">>),
    Pid ! {push, [{text, <<"news">>}, {binary, <<"more">>}]},
    ?assertEqual({text, <<"news">>}, recv(S)),
    ?assertEqual({binary, <<"more">>}, recv(S)),
    %% Any other message goes to websocket_info, which ignores it here.
    Pid ! something_else,
    Pid ! {push, [ping]},
    ?assertEqual({ping, <<>>}, recv(S)),
    ferry_ws_client:close(S),
    terminated(Pid).

close_with_code(Config) ->
    {S, Pid, _} = open(Config, <<"echo">>),
    ferry_ws_client:send(S, text, <<"close">>),
    ?assertEqual({close, 4000, <<"bye">>}, ferry_ws_client:expect_closed(S, 15000)),
    ?assertEqual(stop, terminated(Pid)),
    {S2, Pid2, _} = open(Config, <<"echo">>),
    ferry_ws_client:send(S2, text, <<"stop">>),
    ?assertEqual({close, 1000, <<>>}, ferry_ws_client:expect_closed(S2, 15000)),
    ?assertEqual(stop, terminated(Pid2)).

%% A crash costs its own connection (1011), is reported, and nothing else:
%% a neighbour keeps echoing, and no process is left (end_per_testcase).
crash_closes_1011(Config) ->
    {Neighbour, NPid, _} = open(Config, <<"echo">>),
    {S, Pid, _} = open(Config, <<"echo">>),
    ferry_ws_client:send(S, text, <<"crash">>),
    ?assertMatch({close, 1011, _}, ferry_ws_client:expect_closed(S, 15000)),
    ?assertMatch({crash, error, on_purpose, [_ | _]}, terminated(Pid)),
    Report = ferry_test_lib:await_log(fun(#{what := W}) -> W =:= websocket_crashed end, 5000),
    ?assertMatch(#{level := error, listener := ws, module := ?MODULE,
                   callback := websocket_handle, reason := on_purpose}, Report),
    ?assert(is_integer(maps:get(id, Report))),
    ferry_ws_client:send(Neighbour, text, <<"still here">>),
    ?assertEqual({text, <<"still here">>}, recv(Neighbour)),
    ferry_ws_client:close(Neighbour),
    terminated(NPid),
    ?assertMatch({200, _, <<"ok">>}, plain(?config(port, Config))).

bad_return_closes_1011(Config) ->
    {S, Pid, _} = open(Config, <<"echo">>),
    ferry_ws_client:send(S, text, <<"garbage">>),
    ?assertMatch({close, 1011, _}, ferry_ws_client:expect_closed(S, 15000)),
    ?assertMatch({crash, error, {ferry_websocket, bad_return, not_a_call_result}, _},
                 terminated(Pid)),
    ferry_test_lib:await_log(fun(#{what := W, reason := R}) ->
                                     W =:= websocket_crashed andalso
                                         R =:= {ferry_websocket, bad_return, not_a_call_result};
                                (_) -> false
                             end, 5000).

client_close_terminate_remote(Config) ->
    {S, Pid, _} = open(Config, <<"echo">>),
    ferry_ws_client:send_close(S, 1000, <<"done">>),
    %% The server answers the close and closes the connection.
    ?assertMatch({close, 1000, _}, ferry_ws_client:expect_closed(S, 15000)),
    ?assertEqual({remote, 1000, <<"done">>}, terminated(Pid)),
    %% A close frame without a code is 1005 (RFC 6455 7.1.5).
    {S2, Pid2, _} = open(Config, <<"echo">>),
    ferry_ws_client:send(S2, close, <<>>),
    _ = ferry_ws_client:expect_closed(S2, 15000),
    ?assertMatch({remote, 1005, _}, terminated(Pid2)),
    %% A client that just goes away: Rust closes with 1006.
    {S3, Pid3, _} = open(Config, <<"echo">>),
    gen_tcp:close(S3),
    ?assertMatch({error, 1006, _}, terminated(Pid3)).

subprotocol_and_headers(Config) ->
    {ok, S, Headers} = ferry_ws_client:connect(?config(port, Config), path(<<"proto">>),
                                              [{<<"sec-websocket-protocol">>,
                                                <<"superchat, chat">>}]),
    {Pid, _} = ws_process(),
    ?assertEqual(<<"chat">>, proplists:get_value(<<"sec-websocket-protocol">>, Headers)),
    ?assertEqual(<<"id=1">>, proplists:get_value(<<"set-cookie">>, Headers)),
    ferry_ws_client:send(S, text, <<"x">>),
    ?assertEqual({text, <<"x">>}, recv(S)),
    ferry_ws_client:close(S),
    terminated(Pid).

%% A subprotocol the client did not offer would make it fail the
%% connection (RFC 6455 4.1): a 500 and a report instead.
protocol_not_offered_500(Config) ->
    S = ferry_test_lib:connect(?config(port, Config)),
    {error, {status, Status, _, _}} = ferry_ws_client:handshake(S, path(<<"wrongproto">>), []),
    gen_tcp:close(S),
    ?assertEqual(500, Status),
    Report = ferry_test_lib:await_log(fun(#{what := W}) -> W =:= handler_failed end, 5000),
    ?assertEqual({protocol_not_offered, <<"mqtt">>}, maps:get(why, Report)).

%% request_timeout bounds a handler until its response starts; a
%% WebSocket is open-ended.
request_timeout_does_not_apply(_Config) ->
    Port = ferry_test_lib:start(ws_deadline, #{routes => routes(), request_timeout => 200}),
    {ok, S, _} = ferry_ws_client:connect(Port, path(<<"echo">>)),
    {Pid, _} = ws_process(),
    timer:sleep(1000),
    ferry_ws_client:send(S, text, <<"later">>),
    ?assertEqual({text, <<"later">>}, recv(S)),
    ferry_ws_client:close(S),
    ?assertMatch({remote, 1000, _}, terminated(Pid)).

hibernate(Config) ->
    {S, Pid, _} = open(Config, <<"hibernate">>),
    Hibernating = fun() ->
                          process_info(Pid, current_function) =:=
                              {current_function, {erlang, hibernate, 3}}
                  end,
    ferry_test_lib:wait_until(Hibernating, 5000),
    ferry_ws_client:send(S, text, <<"wake">>),
    ?assertEqual({text, <<"wake">>}, recv(S)),
    ferry_test_lib:wait_until(Hibernating, 5000),
    ferry_ws_client:close(S),
    terminated(Pid).

%% A handler that takes no messages: Rust stops reading its socket once
%% the grant is used, so its mailbox holds at most body_window's worth
%% (each message costs its size + 512), whatever the client sends. When
%% it resumes, every message arrives, in order.
slow_handler_back_pressure(Config) ->
    {S, Pid, _} = open(Config, <<"echo">>),
    ferry_ws_client:send(S, text, <<"block">>),
    receive {blocked, Pid} -> ok after 15000 -> ct:fail(not_blocked) end,
    N = 20000,
    Test = self(),
    Sender = spawn_link(fun() ->
                                [ferry_ws_client:send(S, binary, <<I:32, 0:(1020 * 8)>>)
                                 || I <- lists:seq(1, N)],
                                Test ! sent_all
                        end),
    timer:sleep(1500),
    {message_queue_len, Queued} = process_info(Pid, message_queue_len),
    Bound = ?BODY_WINDOW div (1024 + 512) + 1,
    ct:pal("blocked handler's mailbox: ~p messages (bound ~p); ~p sent by the client",
           [Queued, Bound, N]),
    ?assert(Queued =< Bound),
    receive sent_all -> ct:fail(client_was_not_held_back) after 0 -> ok end,
    Pid ! go,
    [?assertMatch({binary, <<I:32, _/binary>>}, recv(S)) || I <- lists:seq(1, N)],
    receive sent_all -> ok after 15000 -> ct:fail(sender_stuck) end,
    unlink(Sender),
    ferry_ws_client:close(S),
    terminated(Pid).

%% A client that reads nothing: the pushing handler gets as far as the
%% send window allows and waits; the VM holds no more than that. When the
%% client reads, every part arrives.
slow_client_blocks_pusher(Config) ->
    {S, Pid, _} = open(Config, <<"echo">>),
    ok = inet:setopts(S, [{recbuf, 65536}]),
    erlang:garbage_collect(),
    Before = erlang:memory(total),
    Pid ! {push_parts, 64},
    timer:sleep(1500),
    Pushing = drain_pushing(64),
    Growth = erlang:memory(total) - Before,
    ct:pal("pusher stalled at part ~p of 64 (counting down); VM memory growth ~.1f MB",
           [Pushing, Growth / ?MB]),
    ?assert(Pushing > 1),
    ?assert(Growth < 32 * ?MB),
    [?assertMatch({binary, <<"ppp", _/binary>>}, recv(S)) || _ <- lists:seq(1, 64)],
    ferry_ws_client:close(S),
    terminated(Pid).

drain_pushing(Last) ->
    receive {pushing, N} -> drain_pushing(N) after 0 -> Last end.

%% 200 members of a group: one publish reaches each exactly once (the
%% message after it is the next publish).
publish_to_group_of_200(Config) ->
    Group = list_to_binary(ferry_test_lib:pid_path(self())),
    Members = [open(Config, <<"room">>) || _ <- lists:seq(1, 200)],
    ok = ferry_ws:publish(ws, Group, [{text, <<"hello">>}]),
    ok = ferry_ws:publish(ws, Group, [{binary, <<"end">>}]),
    [begin
         ?assertEqual({text, <<"hello">>}, recv(S)),
         ?assertEqual({binary, <<"end">>}, recv(S))
     end || {S, _, _} <- Members],
    %% Another group hears nothing of it.
    ok = ferry_ws:publish(ws, <<"elsewhere">>, [{text, <<"not for you">>}]),
    [ferry_ws_client:close(S) || {S, _, _} <- Members],
    [?assertMatch({remote, 1000, _}, terminated(Pid)) || {_, Pid, _} <- Members].

publish_from_skips_sender(Config) ->
    Group = list_to_binary(ferry_test_lib:pid_path(self())),
    [{S1, _, _}, {S2, _, _}, {S3, _, _}] = Members =
        [open(Config, <<"room">>) || _ <- lists:seq(1, 3)],
    ferry_ws_client:send(S1, text, <<"say:hi all">>),
    ?assertEqual({text, <<"hi all">>}, recv(S2)),
    ?assertEqual({text, <<"hi all">>}, recv(S3)),
    ok = ferry_ws:publish(ws, Group, [{text, <<"end">>}]),
    [?assertEqual({text, <<"end">>}, recv(S)) || S <- [S1, S2, S3]],
    [ferry_ws_client:close(S) || {S, _, _} <- Members],
    [terminated(Pid) || {_, Pid, _} <- Members].

send_to_conns(Config) ->
    [{S1, _, C1}, {S2, _, _}, {S3, _, C3}] = Members =
        [open(Config, <<"echo">>) || _ <- lists:seq(1, 3)],
    ok = ferry_ws:send([C1, C3], [{text, <<"direct">>}, {binary, <<"twice">>}]),
    [begin
         ?assertEqual({text, <<"direct">>}, recv(S)),
         ?assertEqual({binary, <<"twice">>}, recv(S))
     end || S <- [S1, S3]],
    %% S2 got nothing: the first message it reads is its own echo.
    ferry_ws_client:send(S2, text, <<"mine">>),
    ?assertEqual({text, <<"mine">>}, recv(S2)),
    [ferry_ws_client:close(S) || {S, _, _} <- Members],
    [terminated(Pid) || {_, Pid, _} <- Members].

%% stop_listener drains: open WebSockets are closed with 1001 ("going
%% away") and their handlers get terminate(shutdown).
stop_listener_shutdown(_Config) ->
    Port = ferry_test_lib:start(ws_stop, #{routes => routes(), drain_timeout => 5000}),
    {ok, S, _} = ferry_ws_client:connect(Port, path(<<"echo">>)),
    {Pid, _} = ws_process(),
    Stopper = spawn_link(fun() -> ok = ferry:stop_listener(ws_stop) end),
    Ref = monitor(process, Stopper),
    ?assertMatch({close, 1001, _}, ferry_ws_client:expect_closed(S, 15000)),
    ?assertEqual(shutdown, terminated(Pid)),
    receive {'DOWN', Ref, process, Stopper, normal} -> ok
    after 15000 -> ct:fail(stop_listener_stuck)
    end.

%% kill -9 of the Rust process with 500 WebSockets open: every WebSocket
%% process is gone, their clients see the connection end, and the
%% listener serves again (HTTP and WebSocket) on its address.
kill9_with_500_open(Config) ->
    Port = ?config(port, Config),
    Sockets = [begin
                   {S, Pid, _} = open(Config, <<"room">>),
                   {S, monitor(process, Pid), Pid}
               end || _ <- lists:seq(1, 500)],
    OsPid = ferry:os_pid(ws),
    ferry_test_lib:os_kill(OsPid),
    [receive {'DOWN', Ref, process, Pid, Reason} -> ?assertEqual(killed, Reason)
     after 15000 -> ct:fail({websocket_process_left, Pid})
     end || {_, Ref, Pid} <- Sockets],
    [?assertMatch({error, _}, gen_tcp:recv(S, 0, 15000)) || {S, _, _} <- Sockets],
    [gen_tcp:close(S) || {S, _, _} <- Sockets],
    ok = served_again(Port, erlang:monotonic_time(millisecond) + 15000),
    ?assertNotEqual(OsPid, ferry:os_pid(ws)),
    {S, Pid, _} = open(Config, <<"room">>),
    %% Groups of the new Rust process work: the new port is the one published to.
    ok = ferry_ws:publish(ws, list_to_binary(ferry_test_lib:pid_path(self())), [{text, <<"again">>}]),
    ?assertEqual({text, <<"again">>}, recv(S)),
    ferry_ws_client:close(S),
    terminated(Pid),
    %% No terminate/3 from the killed ones: a kill is not a close.
    receive {terminate, _, _, _} = T -> ct:fail({unexpected, T}) after 0 -> ok end.

served_again(Port, Deadline) ->
    case catch plain(Port) of
        {200, _, <<"ok">>} -> ok;
        _ ->
            erlang:monotonic_time(millisecond) < Deadline orelse ct:fail(not_served_again),
            timer:sleep(10),
            served_again(Port, Deadline)
    end.

%% The port owner's periodic work does not grow with idle WebSockets: its
%% sweep walks only handlers with a deadline, and a WebSocket has none.
%% (Walking them all cost ~1 reduction per socket per sweep, 10 a second.)
idle_sockets_cost_the_owner_nothing(Config) ->
    [{_, Owner}] = ets:lookup(ferry_listeners, {ws, 1}),
    Quiet = owner_reductions_per_s(Owner),
    Heap = live_words(Owner),
    N = 400,
    Sockets = [open(Config, <<"echo">>) || _ <- lists:seq(1, N)],
    [begin ferry_ws_client:send(S, text, <<"hi">>), {text, <<"hi">>} = recv(S) end
     || {S, _, _} <- Sockets],
    Idle = owner_reductions_per_s(Owner),
    IdleHeap = live_words(Owner),
    ct:pal("owner: ~b reductions/s quiet, ~b with ~b idle WebSockets; heap ~b words, then ~b",
           [Quiet, Idle, N, Heap, IdleHeap]),
    ?assert(Idle < Quiet + N, {Quiet, Idle}),
    %% Their entries are not on the owner's heap (where a burst of
    %% upgrades left old versions of them behind), but in its ETS table.
    ?assert(IdleHeap - Heap < N, {Heap, IdleHeap}),
    [ferry_ws_client:close(S) || {S, _, _} <- Sockets],
    [terminated(Pid) || {_, Pid, _} <- Sockets].

owner_reductions_per_s(Owner) ->
    {reductions, R0} = process_info(Owner, reductions),
    timer:sleep(2000),
    {reductions, R1} = process_info(Owner, reductions),
    (R1 - R0) div 2.

%% `hibernate_after': idle that long, the process hibernates; woken by a
%% message, it answers, and hibernates again after the next idle period.
%% Without the option it never does.
hibernate_after_idle(Config) ->
    {S, Pid, _} = open(Config, <<"hibernate_after">>),
    {Plain, PlainPid, _} = open(Config, <<"echo">>),
    Hibernating = fun(P) ->
                          fun() -> process_info(P, current_function) =:=
                                       {current_function, {erlang, hibernate, 3}}
                          end
                  end,
    ferry_test_lib:wait_until(Hibernating(Pid), 5000),
    ferry_ws_client:send(S, text, <<"wake">>),
    ?assertEqual({text, <<"wake">>}, recv(S)),
    ferry_test_lib:wait_until(Hibernating(Pid), 5000),
    ?assertNot((Hibernating(PlainPid))()),
    [ferry_ws_client:close(Sock) || Sock <- [S, Plain]],
    terminated(Pid),
    terminated(PlainPid).

%% A WebSocket process that does not hibernate still leaves behind the heap
%% it grew to while its request was decoded, routed and upgraded (it kept
%% the upgrade's before, 46,000 words here), and holds no old heap: every
%% collection is a full sweep, so its state is not promoted to one (a 233-word
%% heap and a 376-word old heap before, 5.8 KB). Its heap after an echo is
%% 233 or 376 words (~4 KB in all), by when the VM last collected: the
%% bound is the next size up, far below the upgrade's.
upgrade_heap_is_left_behind(Config) ->
    {S, Pid, {Young, Words, _Bytes}} = after_echo(Config, <<"fat">>),
    ?assertEqual(Young, Words),
    ?assert(Words =< 610, Words),
    ferry_ws_client:close(S),
    terminated(Pid).

%% A module without terminate/3 has no use for the upgraded request, which
%% would be most of an idle process's live data. The upgrade carries 80
%% small headers (about 900 words once on a heap): after a full collection
%% the process of a module with terminate/3 still holds them, the one of a
%% module without it does not. A crash report still names the path.
no_terminate_keeps_no_request(Config) ->
    Headers = [{iolist_to_binary(io_lib:format("x-pad-~2..0b", [N])), <<"v">>}
               || N <- lists:seq(1, 80)],
    {S0, Pid0, _} = after_echo(Config, <<"echo">>, Headers),
    {S, Pid, _} = after_echo(Config, <<"noterminate">>, Headers),
    Kept = live_words(Pid0),
    Left = live_words(Pid),
    ct:pal("after a full collection: ~b words with terminate/3, ~b without", [Kept, Left]),
    ?assert(Kept - Left >= 800, {Kept, Left}),
    ferry_ws_client:close(S0),
    terminated(Pid0),
    Ref = monitor(process, Pid),
    ferry_ws_client:send(S, text, <<"crash">>),
    ?assertMatch({close, 1011, _}, ferry_ws_client:expect_closed(S, 15000)),
    receive {'DOWN', Ref, process, Pid, _} -> ok
    after 15000 -> ct:fail({not_terminated, Pid})
    end,
    Path = iolist_to_binary(path(<<"noterminate">>)),
    ?assertMatch(#{module := ferry_ws_echo_h, path := Path},
                 ferry_test_lib:await_log(fun(#{what := W}) -> W =:= websocket_crashed end, 5000)).

%% The words a process's heap holds once collected: its live data, to
%% within the heap size step the VM rounds up to.
live_words(Pid) ->
    true = erlang:garbage_collect(Pid),
    {total_heap_size, Words} = process_info(Pid, total_heap_size),
    Words.

%% A WebSocket of this mode that has echoed one message: its young heap,
%% all its heap and its memory, in words and bytes.
after_echo(Config, Mode) -> after_echo(Config, Mode, []).

after_echo(Config, Mode, Headers) ->
    {S, Pid, _} = open(Config, Mode, Headers),
    ferry_ws_client:send(S, text, <<"hello">>),
    ?assertEqual({text, <<"hello">>}, recv(S)),
    [{heap_size, Young}, {total_heap_size, Words}, {memory, Bytes}] =
        process_info(Pid, [heap_size, total_heap_size, memory]),
    ct:pal("~s WebSocket process after an echo: heap ~b words, ~b with the old heap, ~b B",
           [Mode, Young, Words, Bytes]),
    {S, Pid, {Young, Words, Bytes}}.
