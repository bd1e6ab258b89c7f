%% Scenario 16's server (bench/harness/cluster_scenarios.py): an edge node
%% with its own BEAM peers on this machine, started with OTP's `peer':
%%   erl -noshell -pa ... -run bench_ferry_cluster start PORT BINARY VMFLAG...
%% app1 serves the handler group `one'; app1 and app2 serve `two'; edge2 is
%% a second edge node with a listener of its own (GET /edge2 says its port).
%%   GET /          hello, handled on this node
%%   GET /r1, /r2   hello, handled on an application node of `one', `two'
%%   GET /ws/sub    subscribe to the topic "bench" (ferry_pubsub), say "joined"
%%   POST /publish  the body to every subscriber of "bench", on both edges
-module(bench_ferry_cluster).
-behaviour(ferry_websocket).
-export([start/1, handle/1, handle/2]).
-export([websocket_init/1, websocket_handle/2, websocket_info/2]).

-define(TOPIC, <<"bench">>).
-define(HELLO, {200, [{<<"content-type">>, <<"text/plain">>}], <<"Hello, world!">>}).

-spec start([string()]) -> no_return().
start([PortStr, Bin | VmFlags]) ->
    Port = list_to_integer(PortStr),
    _ = os:cmd("epmd -daemon"),
    ok = distribution(list_to_atom("bench_edge_" ++ PortStr), 50),
    {ok, _} = application:ensure_all_started(ferry),
    Args = VmFlags ++ lists:append([["-pa", filename:dirname(code:which(M))]
                                    || M <- [ferry, ?MODULE, bench_server]]),
    [App1, App2, Edge2] = [node_with_ferry(N, Args) || N <- [app1, app2, edge2]],
    [{ok, _} = erpc:call(N, supervisor, start_child,
                         [ferry_sup, ferry_remote:child_spec(G, {?MODULE, hello})])
     || {N, G} <- [{App1, one}, {App1, two}, {App2, two}]],
    Opts = bench_ferry:listener_opts(Port, 1, Bin),
    {ok, _} = erpc:call(Edge2, ferry, start_listener, [bench2, Opts#{port => 0, handler => ?MODULE}]),
    persistent_term:put({?MODULE, edge2}, erpc:call(Edge2, ferry, port_number, [bench2])),
    wait_members(),
    {ok, _} = ferry:start_listener(bench, Opts#{handler => ?MODULE}),
    bench_server:ready(Port).

distribution(Name, Tries) ->
    case net_kernel:start([Name, shortnames]) of
        {ok, _} -> ok;
        {error, _} when Tries > 1 -> timer:sleep(100), distribution(Name, Tries - 1)
    end.

node_with_ferry(Name, Args) ->
    {ok, _Peer, Node} = peer:start(#{name => peer:random_name(Name), args => Args}),
    {ok, _} = erpc:call(Node, application, ensure_all_started, [ferry]),
    Node.

wait_members() ->
    case {length(ferry_remote:members(one)), length(ferry_remote:members(two))} of
        {1, 2} -> ok;
        _ -> timer:sleep(50), wait_members()
    end.

%% The edge's handler.
-spec handle(ferry_req:req()) -> ferry_handler:result().
handle(#{method := <<"GET">>, path := <<"/">>}) ->
    ?HELLO;
handle(#{method := <<"GET">>, path := <<"/r1">>} = Req) ->
    ferry_remote:handle(Req, one);
handle(#{method := <<"GET">>, path := <<"/r2">>} = Req) ->
    ferry_remote:handle(Req, two);
handle(#{method := <<"GET">>, path := <<"/ws/sub">>}) ->
    {websocket, ?MODULE, sub};
handle(#{method := <<"POST">>, path := <<"/publish">>} = Req) ->
    {ok, Text, _} = ferry_req:read_full_body(Req, 65536),
    ok = ferry_pubsub:broadcast(?TOPIC, [{text, Text}]),
    {200, [{<<"content-type">>, <<"text/plain">>}], <<"ok">>};
handle(#{method := <<"GET">>, path := <<"/edge2">>}) ->
    {200, [], integer_to_binary(persistent_term:get({?MODULE, edge2}))};
handle(_Req) ->
    {404, [], <<"not found">>}.

%% The application nodes' handler.
-spec handle(ferry_req:req(), hello) -> ferry_handler:result().
handle(_Req, hello) ->
    ?HELLO.

websocket_init(sub) ->
    ok = ferry_pubsub:subscribe(?TOPIC),
    {reply, {text, <<"joined">>}, sub}.

websocket_handle(_Frame, State) ->
    {ok, State}.

websocket_info(_Info, State) ->
    {ok, State}.
