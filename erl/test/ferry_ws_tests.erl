%% Groups and fan-out without Rust: each "shard" is a `cat' port that
%% hands the commands back to the test. Checks one command per shard,
%% the except-id of publish_from, the grouping of send/2 and the frame
%% checks; the real thing is ferry_websocket_SUITE.
-module(ferry_ws_tests).
-include_lib("eunit/include/eunit.hrl").
-include_lib("ferry/src/ferry_ctx.hrl").

cat() ->
    open_port({spawn_executable, os:find_executable("cat")}, [{packet, 4}, binary, use_stdio]).

command(Port) ->
    receive {Port, {data, Frame}} -> binary_to_term(Frame)
    after 5000 -> error(no_command)
    end.

no_command(Port) ->
    receive {Port, {data, _} = Data} -> error({unexpected, Data}) after 0 -> ok end.

%% A listener of two shards, registered as ferry_port registers them.
with_shards(Test) ->
    Owner = case ets:whereis(ferry_listeners) of
                undefined -> ets:new(ferry_listeners, [named_table, public, set]), self();
                _ -> undefined
            end,
    P1 = cat(),
    P2 = cat(),
    ok = ferry_ws:register_port(fan, 1, P1, infinity, undefined),
    ok = ferry_ws:register_port(fan, 2, P2, infinity, undefined),
    try Test(P1, P2)
    after
        ferry_ws:unregister_port(fan, 1),
        ferry_ws:unregister_port(fan, 2),
        Owner =:= self() andalso ets:delete(ferry_listeners)
    end.

%% Runs Fun as the WebSocket process of Id on Port.
as_connection(Port, Id, Fun) ->
    Test = self(),
    Ctx = #ferry_ctx{port = Port, id = Id, owner = Test, send_window = 1000,
                     body_window = 1000, listener = fan, max_frame = infinity},
    spawn_link(fun() -> ferry_ws:enter(Ctx), Test ! {done, Id, Fun()} end),
    receive {done, Id, Result} -> Result after 5000 -> error(no_result) end.

publish_test() ->
    with_shards(
      fun(P1, P2) ->
              ok = ferry_ws:publish(fan, <<"room">>, [{text, [<<"hi">>, $!]}, close]),
              ?assertEqual({ws_publish, <<"room">>, [{text, <<"hi!">>}, close]}, command(P1)),
              ?assertEqual({ws_publish, <<"room">>, [{text, <<"hi!">>}, close]}, command(P2)),
              no_command(P1),
              %% No such listener: no members.
              ok = ferry_ws:publish(nobody, <<"room">>, [{text, <<"x">>}]),
              ?assertError({bad_frame, stop}, ferry_ws:publish(fan, <<"room">>, [stop])),
              ?assertError({bad_frame, {close, 1005, <<>>}},
                           ferry_ws:publish(fan, <<"room">>, [{close, 1005, <<>>}])),
              no_command(P1),
              no_command(P2)
      end).

publish_from_test() ->
    with_shards(
      fun(P1, P2) ->
              ok = as_connection(P2, 42, fun() -> ferry_ws:publish_from(<<"room">>, [{binary, <<1>>}]) end),
              ?assertEqual({ws_publish, <<"room">>, [{binary, <<1>>}]}, command(P1)),
              ?assertEqual({ws_publish, <<"room">>, [{binary, <<1>>}], 42}, command(P2))
      end).

join_leave_self_send_test() ->
    with_shards(
      fun(P1, P2) ->
              A = as_connection(P1, 1, fun() -> ok = ferry_ws:join(<<"g">>), ferry_ws:self() end),
              ?assertEqual({ws_join, 1, <<"g">>}, command(P1)),
              B = as_connection(P1, 300, fun() -> ok = ferry_ws:leave(<<"g">>), ferry_ws:self() end),
              ?assertEqual({ws_leave, 300, <<"g">>}, command(P1)),
              C = as_connection(P2, 5, fun() -> ferry_ws:self() end),
              %% One command per shard, the ids in the order given.
              ok = ferry_ws:send([A, C, B], [{text, <<"x">>}, {ping, <<>>}]),
              ?assertEqual({ws_send, [1, 300], [{text, <<"x">>}, {ping, <<>>}]}, command(P1)),
              ?assertEqual({ws_send, [5], [{text, <<"x">>}, {ping, <<>>}]}, command(P2)),
              no_command(P1),
              ok = ferry_ws:send([], [{text, <<"x">>}]),
              no_command(P1),
              no_command(P2)
      end).

not_a_websocket_test() ->
    ?assertError({ferry_ws, not_a_websocket_process}, ferry_ws:join(<<"g">>)),
    ?assertError({ferry_ws, not_a_websocket_process}, ferry_ws:self()),
    ?assertError(function_clause, ferry_ws:join(g)).

%% A port that is gone (its Rust process died) takes nothing, and says nothing.
dead_port_test() ->
    with_shards(
      fun(P1, P2) ->
              port_close(P1),
              ok = ferry_ws:publish(fan, <<"room">>, [{text, <<"x">>}]),
              ?assertEqual({ws_publish, <<"room">>, [{text, <<"x">>}]}, command(P2))
      end).
