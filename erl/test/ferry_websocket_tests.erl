%% The WebSocket process without Rust: its port is `cat', which hands every
%% command the process writes back to the test, and the test plays the
%% port owner and Rust's events (ws_in, stream_credit, ws_closed). Checks
%% the grants, the send credit, the commands, the close and crash paths
%% and the terminate reasons; the real thing is ferry_websocket_SUITE.
-module(ferry_websocket_tests).
-include_lib("eunit/include/eunit.hrl").
-include_lib("ferry/src/ferry_ctx.hrl").

-behaviour(ferry_websocket).
-export([websocket_init/1, websocket_handle/2, websocket_info/2, terminate/3]).

-define(ID, 7).
-define(SEND_WINDOW, 1000).
-define(BODY_WINDOW, 4000).

%%% The handler: tells the test everything, echoes, and runs what the
%%% test sends it as `{do, Fun}'.

websocket_init(#{test := Test, init := Init} = S) ->
    Test ! {init, self()},
    Init(S);
websocket_init(#{test := Test} = S) ->
    Test ! {init, self()},
    {ok, S}.

websocket_handle(Frame, #{test := Test} = S) ->
    Test ! {handle, Frame},
    {reply, Frame, S}.

websocket_info({do, Fun}, S) ->
    Fun(S);
websocket_info(Info, #{test := Test} = S) ->
    Test ! {info, Info},
    {ok, S}.

terminate(Reason, Req, #{test := Test}) ->
    Test ! {terminate, Reason, maps:is_key(body, Req)}.

%%% Harness

req(Port, Extra) ->
    Ctx = #ferry_ctx{port = Port, id = ?ID, owner = self(), send_window = ?SEND_WINDOW,
                     body_window = ?BODY_WINDOW, max_frame = 100000, listener = test},
    maps:merge(#{method => <<"GET">>, path => <<"/ws">>, query => <<>>, version => {1, 1},
                 headers => [{<<"sec-websocket-protocol">>, <<"chat, superchat">>}],
                 peer => {{127, 0, 0, 1}, 1}, body => <<>>, websocket => ok,
                 bindings => #{}, path_info => undefined, '$ferry' => Ctx}, Extra).

cat() ->
    open_port({spawn_executable, os:find_executable("cat")}, [{packet, 4}, binary, use_stdio]).

%% Upgrades in a new process; returns it once its accept came through.
start(Opts) -> start(#{}, Opts).

start(State, Opts) ->
    Port = cat(),
    Test = self(),
    Req = req(Port, #{}),
    Pid = spawn(fun() ->
                        Test ! {upgrade, ferry_websocket:upgrade(Req, ?MODULE, State#{test => Test}, Opts)}
                end),
    monitor(process, Pid),
    receive {ferry_websocket, ?ID, Pid} -> ok after 5000 -> error(no_owner_message) end,
    [{ws_accept, ?ID, _, _}, {read_body, ?ID, ?BODY_WINDOW}] = commands(Port),
    %% websocket_init runs once Rust says the 101 is out.
    Pid ! {ws_open, ?ID, #{deflate => false, protocol => undefined}},
    receive {init, Pid} -> ok after 5000 -> error(no_init) end,
    {Pid, Port}.

%% The next write of the process to its port: a command, or a batch.
commands(Port) ->
    receive
        {Port, {data, <<131, _/binary>> = Frame}} -> [binary_to_term(Frame)];
        {Port, {data, Batch}} -> unbatch(Batch)
    after 5000 ->
            error(no_command)
    end.

unbatch(<<>>) -> [];
unbatch(<<Len:32, Frame:Len/binary, Rest/binary>>) -> [binary_to_term(Frame) | unbatch(Rest)].

no_command(Port) ->
    receive {Port, {data, _} = Data} -> error({unexpected, Data}) after 0 -> ok end.

terminated(Pid) ->
    Reason = receive {terminate, R, HasBody} -> ?assertNot(HasBody), R after 5000 -> error(no_terminate) end,
    receive {'DOWN', _, process, Pid, Exit} -> ?assertEqual(normal, Exit) after 5000 -> error(alive) end,
    Reason.

do(Pid, Fun) -> Pid ! {do, Fun}.

in(Pid, Op, Data) -> Pid ! {ws_in, ?ID, Op, Data}.

%% The process waits for credit (a bounded wait that only catches hangs).
waits_for_credit(Pid) ->
    wait(fun() -> process_info(Pid, current_function) =:= {current_function,
                                                              {ferry_websocket, await_credit, 1}}
         end, 500).

wait(Fun, 0) -> ?assert(Fun());
wait(Fun, N) ->
    case Fun() of
        true -> ok;
        false -> timer:sleep(10), wait(Fun, N - 1)
    end.

%%% Cases

accept_test() ->
    Port = cat(),
    Test = self(),
    Req = req(Port, #{}),
    Opts = #{protocol => <<"chat">>, deflate => false, control => true, hibernate => false,
             headers => #{<<"set-cookie">> => <<"a=b">>}},
    Pid = spawn(fun() -> ferry_websocket:upgrade(Req, ?MODULE, #{test => Test}, Opts) end),
    %% The accept and the first grant in one write; only Rust's options.
    ?assertEqual([{ws_accept, ?ID, [{<<"set-cookie">>, <<"a=b">>}],
                   #{protocol => <<"chat">>, deflate => false, control => true}},
                  {read_body, ?ID, ?BODY_WINDOW}], commands(Port)),
    receive {ferry_websocket, ?ID, Pid} -> ok after 5000 -> error(no_owner_message) end,
    exit(Pid, kill).

echo_and_regrant_test() ->
    {Pid, Port} = start(#{}),
    %% Each message costs its size + 512 of the grant; given back in
    %% batches of a quarter window (1000), with the reply.
    in(Pid, text, <<"hello">>),
    ?assertEqual([{ws_send, ?ID, [{text, <<"hello">>}]}], commands(Port)),
    in(Pid, binary, <<1, 2, 3>>),
    ?assertEqual([{ws_send, ?ID, [{binary, <<1, 2, 3>>}]}, {read_body, ?ID, 517 + 515}],
                 commands(Port)),
    in(Pid, text, <<"again">>),
    ?assertEqual([{ws_send, ?ID, [{text, <<"again">>}]}], commands(Port)),
    %% Rust sends pings to the handler only with control => true; they
    %% are messages like any other here.
    in(Pid, ping, <<"p">>),
    receive {handle, {ping, <<"p">>}} -> ok after 5000 -> error(no_ping) end,
    ?assertEqual([{ws_send, ?ID, [{ping, <<"p">>}]}, {read_body, ?ID, 517 + 513}], commands(Port)),
    %% Other messages go to websocket_info; Rust's ws_open is not one.
    Pid ! {ws_open, ?ID, #{deflate => false, protocol => undefined}},
    Pid ! {stream_credit, 99, 5},
    receive {info, {stream_credit, 99, 5}} -> ok after 5000 -> error(no_info) end,
    receive {info, Other} -> error({unexpected_info, Other}) after 0 -> ok end,
    Pid ! {ws_closed, ?ID, remote, 1000, <<"done">>},
    ?assertEqual({remote, 1000, <<"done">>}, terminated(Pid)),
    no_command(Port).

%% A grant is given back only once websocket_handle has returned.
no_regrant_while_busy_test() ->
    {Pid, Port} = start(#{}),
    Data = binary:copy(<<"x">>, 300),
    do(Pid, fun(S) -> receive go -> {ok, S} end end),
    in(Pid, binary, Data),
    in(Pid, binary, Data),
    timer:sleep(50),
    no_command(Port),
    Pid ! go,
    ?assertEqual([{ws_send, ?ID, [{binary, Data}]}], commands(Port)),
    ?assertEqual([{ws_send, ?ID, [{binary, Data}]}, {read_body, ?ID, 2 * 812}], commands(Port)),
    exit(Pid, kill).

send_credit_test() ->
    {Pid, Port} = start(#{}),
    Part = binary:copy(<<"y">>, 600),
    %% 600 go; 600 more would be 1200 > 1000 in flight: they wait.
    do(Pid, fun(S) -> {[{binary, Part}, {binary, Part}, {text, <<"after">>}], S} end),
    ?assertEqual([{ws_send, ?ID, [{binary, Part}]}], commands(Port)),
    waits_for_credit(Pid),
    no_command(Port),
    %% Not enough yet (500 + 600 > 1000), then enough for the part; the
    %% text after it waits again (1000 + 5 > 1000).
    Pid ! {stream_credit, ?ID, 100},
    waits_for_credit(Pid),
    no_command(Port),
    Pid ! {stream_credit, ?ID, 100},
    ?assertEqual([{ws_send, ?ID, [{binary, Part}]}], commands(Port)),
    waits_for_credit(Pid),
    Pid ! {stream_credit, ?ID, 5},
    ?assertEqual([{ws_send, ?ID, [{text, <<"after">>}]}], commands(Port)),
    %% One message larger than the window goes when nothing is in flight.
    Pid ! {stream_credit, ?ID, 1000},
    Huge = binary:copy(<<"z">>, 5000),
    do(Pid, fun(S) -> {reply, {binary, Huge}, S} end),
    ?assertEqual([{ws_send, ?ID, [{binary, Huge}]}], commands(Port)),
    %% Control frames take no credit.
    do(Pid, fun(S) -> {reply, [ping, {pong, <<"x">>}], S} end),
    ?assertEqual([{ws_send, ?ID, [{ping, <<>>}, {pong, <<"x">>}]}], commands(Port)),
    %% The client leaves while the handler waits for credit.
    do(Pid, fun(S) -> {reply, {binary, Part}, S} end),
    waits_for_credit(Pid),
    Pid ! {ws_closed, ?ID, error, 1006, <<"reset">>},
    ?assertEqual({error, 1006, <<"reset">>}, terminated(Pid)).

%% Messages too large for one command to the port go in several; one too
%% large alone is a crash (Rust would exit on such a frame).
max_frame_test() ->
    {Pid, Port} = start(#{}),
    Pid ! {stream_credit, ?ID, 0},
    A = binary:copy(<<"a">>, 60000),
    do(Pid, fun(S) -> {[{binary, A}, {binary, A}], S} end),
    ?assertEqual([{ws_send, ?ID, [{binary, A}]}], commands(Port)),
    Pid ! {stream_credit, ?ID, 60000},
    ?assertEqual([{ws_send, ?ID, [{binary, A}]}], commands(Port)),
    Pid ! {stream_credit, ?ID, 60000},
    do(Pid, fun(S) -> {reply, {binary, binary:copy(A, 2)}, S} end),
    ?assertEqual([{ws_send, ?ID, [{close, 1011, <<>>}]}], commands(Port)),
    ?assertMatch({crash, error, {ferry_websocket, too_large, binary, 120000, 100000}, _},
                 terminated(Pid)).

close_test() ->
    {Pid, Port} = start(#{}),
    %% Nothing follows a close frame.
    do(Pid, fun(S) -> {[{text, <<"a">>}, {close, 4000, <<"bye">>}, {text, <<"b">>}], S} end),
    ?assertEqual([{ws_send, ?ID, [{text, <<"a">>}, {close, 4000, <<"bye">>}]}], commands(Port)),
    ?assertEqual(stop, terminated(Pid)),
    {Pid2, Port2} = start(#{}),
    do(Pid2, fun(S) -> {stop, S} end),
    ?assertEqual([{ws_send, ?ID, [{close, 1000, <<>>}]}], commands(Port2)),
    ?assertEqual(stop, terminated(Pid2)),
    {Pid3, Port3} = start(#{}),
    do(Pid3, fun(S) -> {reply, close, S} end),
    ?assertEqual([{ws_send, ?ID, [close]}], commands(Port3)),
    ?assertEqual(stop, terminated(Pid3)).

closed_reasons_test_() ->
    [fun() ->
             {Pid, Port} = start(#{}),
             Pid ! Event,
             ?assertEqual(Reason, terminated(Pid)),
             no_command(Port)
     end
     || {Event, Reason} <- [{{ws_closed, ?ID, remote, 1005, <<>>}, {remote, 1005, <<>>}},
                            {{ws_closed, ?ID, error, 1009, <<"too large">>},
                             {error, 1009, <<"too large">>}},
                            {{ws_closed, ?ID, shutdown, 1001, <<>>}, shutdown},
                            {{closed, ?ID, peer_closed}, {error, 1006, <<"peer_closed">>}}]].

crash_test_() ->
    [fun() ->
             {Pid, Port} = start(#{}),
             do(Pid, Fun),
             ?assertEqual([{ws_send, ?ID, [{close, 1011, <<>>}]}], commands(Port)),
             ?assertMatch({crash, _, _, _}, terminated(Pid)),
             no_command(Port)
     end
     || Fun <- [fun(_) -> error(boom) end,
                fun(_) -> exit(boom) end,
                fun(_) -> throw(boom) end,
                fun(_) -> not_a_result end,
                fun(S) -> {reply, {close, 1005, <<>>}, S} end,
                fun(S) -> {reply, {text, self()}, S} end,
                fun(S) -> {[{text, <<"a">>} | bad_tail], S} end,
                fun(S) -> {reply, {ping, binary:copy(<<"p">>, 126)}, S} end]].

crash_reason_test() ->
    {Pid, Port} = start(#{}),
    do(Pid, fun(_) -> {ok} end),
    _ = commands(Port),
    ?assertMatch({crash, error, {ferry_websocket, bad_return, {ok}}, [_ | _]}, terminated(Pid)),
    {Pid2, Port2} = start(#{init => fun(_) -> error(in_init) end}, #{}),
    _ = commands(Port2),
    ?assertMatch({crash, error, in_init, _}, terminated(Pid2)).

hibernate_test() ->
    {Pid, Port} = start(#{hibernate => true}),
    Hibernating = fun() -> process_info(Pid, current_function) =:= {current_function, {erlang, hibernate, 3}} end,
    wait(Hibernating, 500),
    in(Pid, text, <<"still here">>),
    ?assertEqual([{ws_send, ?ID, [{text, <<"still here">>}]}], commands(Port)),
    wait(Hibernating, 500),
    exit(Pid, kill),
    %% Asked for by a callback.
    {Pid2, Port2} = start(#{}),
    do(Pid2, fun(S) -> {[{text, <<"zz">>}], S, hibernate} end),
    ?assertEqual([{ws_send, ?ID, [{text, <<"zz">>}]}], commands(Port2)),
    wait(fun() -> process_info(Pid2, current_function) =:= {current_function, {erlang, hibernate, 3}} end, 500),
    exit(Pid2, kill).

%% Requests that cannot be upgraded are answered by ferry itself.
refusals_test_() ->
    %% Each in a process of its own, as a request is.
    [{spawn, fun() ->
             Port = cat(),
             Req = req(Port, Extra),
             ?assertEqual(ok, ferry_websocket:upgrade(Req, ?MODULE, #{test => self()}, #{})),
             [{respond, ?ID, Status, Headers, _Body}] = commands(Port),
             ?assertEqual(Expected, {Status, Headers})
     end}
     || {Extra, Expected} <- [{#{websocket => bad_version}, {426, [{<<"sec-websocket-version">>, <<"13">>}]}},
                              {#{websocket => bad_request}, {400, []}},
                              {#{websocket => false}, {400, []}}]].

%% The handler's own mistakes: nothing is sent, ferry_handler answers 500.
bad_upgrades_test_() ->
    Req = req(undefined, #{}),
    Up = fun(Module, Opts) -> ferry_websocket:upgrade(Req, Module, #{}, Opts) end,
    [?_assertEqual({error, {protocol_not_offered, <<"mqtt">>}}, Up(?MODULE, #{protocol => <<"mqtt">>})),
     ?_assertEqual({error, {not_a_websocket_module, lists}}, Up(lists, #{})),
     ?_assertEqual({error, {not_a_websocket_module, no_such_module}}, Up(no_such_module, #{})),
     ?_assertEqual({error, {bad_options, [compress, deflate]}},
                   Up(?MODULE, #{compress => true, deflate => yes})),
     ?_assertEqual({error, {bad_options, [headers]}}, Up(?MODULE, #{headers => [{<<"a">>, self()}]})),
     ?_assertEqual({error, {bad_upgrade, ?MODULE, []}}, Up(?MODULE, []))].

result_test_() ->
    [?_assertEqual({[], s, false}, ferry_websocket:result({ok, s})),
     ?_assertEqual({[], s, true}, ferry_websocket:result({ok, s, hibernate})),
     ?_assertEqual({[ping], s, false}, ferry_websocket:result({reply, ping, s})),
     ?_assertEqual({[ping, close], s, true}, ferry_websocket:result({reply, [ping, close], s, hibernate})),
     ?_assertEqual({[stop], s, false}, ferry_websocket:result({stop, s})),
     ?_assertEqual({[ping], s, false}, ferry_websocket:result({[ping], s})),
     ?_assertEqual({[], s, true}, ferry_websocket:result({[], s, hibernate})),
     ?_assertError({ferry_websocket, bad_return, {ok, s, later}}, ferry_websocket:result({ok, s, later})),
     ?_assertError({ferry_websocket, bad_return, ok}, ferry_websocket:result(ok))].

commands_test_() ->
    C = fun(Cs) -> ferry_websocket:commands(Cs, infinity) end,
    [?_assertEqual({[], false}, C([])),
     ?_assertEqual({[{{text, <<"ab">>}, 2}, {{ping, <<>>}, 0}], false}, C([{text, <<"ab">>}, ping])),
     ?_assertEqual({[{{close, 1000, <<>>}, 0}], true}, C([stop, {text, <<"never">>}])),
     ?_assertEqual({[{close, 0}], true}, C([close, {text, <<"never">>}])),
     ?_assertError({ferry_websocket, bad_command, {active, false}}, C([{active, false}])),
     ?_assertError({ferry_websocket, bad_command, {close, 1006, <<>>}}, C([{close, 1006, <<>>}])),
     ?_assertError({ferry_websocket, too_large, text, 2000, 2000},
                   ferry_websocket:commands([{text, binary:copy(<<"a">>, 2000)}], 2000))].
