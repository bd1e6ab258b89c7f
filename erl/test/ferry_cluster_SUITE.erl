%% Handlers and topics across BEAM nodes (docs/CLUSTER.md), with real nodes
%% started by OTP's `peer' on this machine and real HTTP and WebSocket
%% clients. This node is an edge node; peers are application nodes (remote
%% handlers) or a second edge node (topics).
-module(ferry_cluster_SUITE).

-include_lib("common_test/include/ct.hrl").
-include_lib("stdlib/include/assert.hrl").

-export([all/0, init_per_suite/1, end_per_suite/1, init_per_testcase/2, end_per_testcase/2]).
-export([remote_node_killed_under_load/1, remote_node_joins_and_last_leaves/1,
         remote_node_cut_off_and_back/1, remote_quick_handler_no_error/1,
         remote_upload_and_stream_bounded/1, topics_across_two_edges/1,
         topic_forwarder_killed/1, topics_across_a_netsplit/1, topic_forwarder_backlog_bounded/1]).

-define(MiB, 1048576).

all() ->
    [remote_node_killed_under_load, remote_node_joins_and_last_leaves, remote_node_cut_off_and_back,
     remote_quick_handler_no_error,
     remote_upload_and_stream_bounded, topics_across_two_edges, topic_forwarder_killed,
     topics_across_a_netsplit, topic_forwarder_backlog_bounded].

init_per_suite(Config0) ->
    ok = ensure_distribution(),
    Config = ferry_test_lib:init_per_suite(Config0),
    Routes = [{'_', <<"/r/[...]">>, {ferry_remote, g}},
              {'_', <<"/big/[...]">>, {ferry_remote, big}},
              {<<"GET">>, <<"/ws/:topic">>, fun ferry_cluster_h:upgrade/1}],
    Port = ferry_test_lib:start(cluster_edge, #{routes => Routes, max_body => 200 * ?MiB}),
    [{port, Port}, {routes, Routes} | Config].

end_per_suite(Config) ->
    ok = ferry:stop_listener(cluster_edge),
    ferry_test_lib:end_per_suite(Config).

init_per_testcase(_Case, Config) ->
    persistent_term:put({ferry_cluster_h, test}, self()),
    Config.

%% Every peer of the case goes (its peer processes were the case's).
end_per_testcase(_Case, _Config) ->
    [halt_node(N) || N <- nodes()],
    ok = ferry_test_lib:wait_until(fun() -> nodes() =:= [] end, 10000).

%% Peers are named nodes: this node must be one too. `rebar3 ct' starts
%% without a name, so the suite starts distribution itself (epmd first).
ensure_distribution() ->
    case node() of
        nonode@nohost ->
            _ = os:cmd("epmd -daemon"),
            start_distribution(list_to_atom("ferry_ct_" ++ os:getpid()), 50);
        _ ->
            ok
    end.

%% A daemon epmd just started may not listen yet.
start_distribution(Name, Tries) ->
    case net_kernel:start([Name, shortnames]) of
        {ok, _} -> ok;
        {error, _} when Tries > 1 -> timer:sleep(100), start_distribution(Name, Tries - 1);
        {error, Reason} -> ct:fail({no_distribution, Reason})
    end.

%% A node with ferry started and this suite's code path.
start_node(Name) ->
    element(2, start_peer(Name)).

%% The same, with its peer process: peer:call/4 reaches the node over the
%% peer's own connection, also while distribution is cut.
start_peer(Name) ->
    Paths = lists:usort([filename:dirname(code:which(M))
                         || M <- [ferry, ?MODULE, ferry_cluster_h, ferry_test_lib]]),
    %% Controlled over a TCP connection of its own, not distribution: a
    %% peer controlled over distribution halts when it is cut off.
    {ok, Peer, Node} = peer:start(#{name => peer:random_name(Name), connection => 0,
                                   args => lists:append([["-pa", P] || P <- Paths])}),
    {ok, _} = erpc:call(Node, application, ensure_all_started, [ferry]),
    erpc:call(Node, persistent_term, put, [{ferry_cluster_h, test}, self()]),
    {Peer, Node}.

%% An application node serving `Group'.
app_node(Name, Group) ->
    Node = start_node(Name),
    Test = self(),
    ok = erpc:call(Node, fun() ->
                                 {ok, Member} = ferry_remote:serve(Group, {ferry_cluster_h, Test}),
                                 unlink(Member),
                                 ok
                         end),
    Node.

%% An abrupt end: the node halts, its connections drop (noconnection).
halt_node(Node) ->
    erpc:cast(Node, erlang, halt, [0]).

members_are(Group, N) ->
    ferry_test_lib:wait_until(fun() -> length(ferry_remote:members(Group)) =:= N end, 10000).

%%% Remote handlers

%% Eight clients keep requests going (each a unique token; the handler
%% holds it 100 ms, so that several are on b at any time); node b halts
%% with some of them in flight. Those, and only those, get 502; every
%% other request is answered 200 by the node that started it, with its own
%% token; nothing is lost or answered twice.
remote_node_killed_under_load(Config) ->
    Port = ?config(port, Config),
    A = app_node(a, g),
    B = app_node(b, g),
    ok = members_are(g, 2),
    Test = self(),
    Workers = [spawn_link(fun() -> worker(Port, W, Test, 0) end) || W <- lists:seq(1, 8)],
    %% Both nodes serve; then b halts right after starting a request.
    ok = wait_started(B, 20),
    receive {started, _, B} = First -> halt_node(B), self() ! First, self() ! halted
    after 10000 -> ct:fail(no_request_on_b)
    end,
    ok = members_are(g, 1),
    ok = wait_results(40),
    [W ! stop || W <- Workers],
    [receive {done, W} -> ok after 20000 -> ct:fail(worker_stuck) end || W <- Workers],
    {Started, Results, AfterHalt} = collect([], [], []),
    %% None duplicated: each token started at most once, answered once.
    Tokens = [T || {T, _, _} <- Results],
    ?assertEqual(length(Tokens), length(lists:usort(Tokens))),
    StartedTokens = [T || {T, _} <- Started],
    ?assertEqual(length(StartedTokens), length(lists:usort(StartedTokens))),
    Failed = [T || {T, 502, _} <- Results],
    Ok = [{T, Body} || {T, 200, Body} <- Results],
    ?assertEqual([], [R || {_, S, _} = R <- Results, S =/= 200, S =/= 502]),
    %% None mixed up: each 200 names its token and the node that started it.
    [?assertEqual(<<T/binary, $@, (atom_to_binary(proplists:get_value(T, Started)))/binary>>, Body)
     || {T, Body} <- Ok],
    %% 502 only for requests b had (b may halt before its `started' for
    %% the last ones leaves it: those were never on a).
    ?assert(length(Failed) >= 1),
    [?assert(lists:member(proplists:get_value(T, Started), [B, undefined])) || T <- Failed],
    %% The rest kept succeeding, on a, after b was gone.
    ?assert(length([x || {T, 200, _} <- AfterHalt, proplists:get_value(T, Started) =:= A]) >= 20),
    ct:pal("~b answered, ~b 502 (held by b)", [length(Ok), length(Failed)]).

worker(Port, W, Test, N) ->
    receive stop -> Test ! {done, self()}
    after 0 ->
            Token = iolist_to_binary(io_lib:format("w~b-~b", [W, N])),
            Result = case ferry_test_lib:raw(Port, ["GET /r/echo/", Token, "/100 HTTP/1.1\r\n"
                                                    "host: x\r\n\r\n"]) of
                         {Status, _, Body} -> {Token, Status, Body};
                         Error -> {Token, Error, <<>>}
                     end,
            Test ! {result, Result},
            worker(Port, W, Test, N + 1)
    end.

wait_started(Node, N) ->
    ferry_test_lib:wait_until(fun() ->
                                      {messages, Ms} = process_info(self(), messages),
                                      length([x || {started, _, Nd} <- Ms, Nd =:= Node]) >= N
                              end, 20000).

wait_results(N) ->
    {messages, Ms0} = process_info(self(), messages),
    Before = length([x || {result, _} <- Ms0]),
    ferry_test_lib:wait_until(fun() ->
                                      {messages, Ms} = process_info(self(), messages),
                                      length([x || {result, _} <- Ms]) >= Before + N
                              end, 20000).

%% Every token started (with its node) and every result; and the results
%% that came after b halted.
collect(Started, Results, Before) ->
    receive
        {started, T, Node} -> collect([{T, Node} | Started], Results, Before);
        {result, R} -> collect(Started, [R | Results], Before);
        halted -> collect(Started, Results, Results)
    after 0 -> {Started, lists:reverse(Results), lists:reverse(Results -- Before)}
    end.

%% A node that joins gets requests; with no member left, 503 and
%% retry-after.
remote_node_joins_and_last_leaves(Config) ->
    Port = ?config(port, Config),
    A = app_node(a, g),
    ok = members_are(g, 1),
    C = app_node(c, g),
    ok = members_are(g, 2),
    Nodes = [begin
                 {200, _, Body} = get(Port, "/r/node"),
                 binary_to_atom(Body)
             end || _ <- lists:seq(1, 10)],
    ?assertEqual(lists:sort([A, C]), lists:usort(Nodes)),
    halt_node(A),
    halt_node(C),
    ok = members_are(g, 0),
    {Status, Headers, _} = get(Port, "/r/node"),
    ?assertEqual(503, Status),
    ?assertEqual(<<"1">>, proplists:get_value(<<"retry-after">>, Headers)).

%% A netsplit as the edge sees it: the connection to the application node
%% drops while it is alive. The request it held gets 502 at once (not at
%% its deadline); the group is empty (503); once the nodes connect again,
%% pg puts the member back and it serves.
remote_node_cut_off_and_back(Config) ->
    Port = ?config(port, Config),
    A = app_node(a, g),
    ok = members_are(g, 1),
    Test = self(),
    spawn_link(fun() -> Test ! {held, get(Port, "/r/echo/held/20000")} end),
    receive {started, <<"held">>, A} -> ok after 10000 -> ct:fail(not_started) end,
    T0 = erlang:monotonic_time(millisecond),
    true = erlang:disconnect_node(A),
    receive {held, {502, _, _}} -> ok after 10000 -> ct:fail(no_502) end,
    ?assert(erlang:monotonic_time(millisecond) - T0 < 5000),
    ok = members_are(g, 0),
    ?assertMatch({503, _, _}, get(Port, "/r/node")),
    true = net_kernel:connect_node(A),
    ok = members_are(g, 1),
    ?assertEqual({200, atom_to_binary(A)}, begin {S, _, B} = get(Port, "/r/node"), {S, B} end).

%% A remote handler that answers at once usually ends before the edge's
%% port owner has linked to it (its link gets noproc): that is a request
%% served, not a handler lost, and no error is reported for it.
remote_quick_handler_no_error(Config) ->
    Port = ?config(port, Config),
    A = app_node(a, g),
    ok = members_are(g, 1),
    ferry_test_lib:capture_logs(),
    try
        [?assertEqual({200, atom_to_binary(A)}, begin {S, _, B} = get(Port, "/r/node"), {S, B} end)
         || _ <- lists:seq(1, 50)],
        %% Every request's EXIT has come once the port owners hold none
        %% (each is logged, if it is, by the owner before it forgets it).
        Owners = [P || [P] <- ets:match(ferry_listeners, {{cluster_edge, '_'}, '$1'}), is_pid(P)],
        ok = ferry_test_lib:wait_until(
               fun() -> [] =:= [Id || O <- Owners,
                                      {Id, _} <- element(2, process_info(O, dictionary)),
                                      is_integer(Id)] end, 10000),
        {messages, Ms} = process_info(self(), messages),
        ?assertEqual([], [R || {ferry_log, error, {report, R}, _} <- Ms])
    after
        ferry_test_lib:stop_capture()
    end.

get(Port, Path) ->
    ferry_test_lib:raw(Port, ["GET ", Path, " HTTP/1.1\r\nhost: x\r\n\r\n"]).

%% 100 MiB up and 100 MiB down through a handler on another node: the
%% windows of a local handler hold across the hop, so neither node's
%% memory grows with the size.
remote_upload_and_stream_bounded(Config) ->
    Port = ?config(port, Config),
    A = app_node(a, big),
    ok = members_are(big, 1),
    Block = crypto:strong_rand_bytes(?MiB),
    Sampler = sampler([node(), A]),
    S = ferry_test_lib:connect(Port),
    ferry_test_lib:send_request(S, ["PUT /big/upload HTTP/1.1\r\nhost: x\r\n"
                                    "content-length: ", integer_to_list(100 * ?MiB), "\r\n\r\n"]),
    [ok = gen_tcp:send(S, Block) || _ <- lists:seq(1, 100)],
    {200, _, Answer} = ferry_test_lib:recv_response(S, 60000),
    Hash = crypto:hash_final(lists:foldl(fun(_, C) -> crypto:hash_update(C, Block) end,
                                         crypto:hash_init(sha256), lists:seq(1, 100))),
    ?assertEqual(iolist_to_binary([integer_to_list(100 * ?MiB), " ", binary:encode_hex(Hash)]),
                 Answer),
    ferry_test_lib:send_request(S, "GET /big/stream/100 HTTP/1.1\r\nhost: x\r\n\r\n"),
    {200, _} = ferry_test_lib:recv_head(S, 15000),
    ?assertEqual(100 * ?MiB, recv_chunked(S, 0)),
    gen_tcp:close(S),
    Growth = stop_sampler(Sampler),
    ct:pal("memory growth per node (bytes): ~p", [Growth]),
    [?assert(G < 40 * ?MiB) || {_, G} <- Growth].

%% The byte count of a chunked body (hex sizes, CRLFs).
recv_chunked(S, N) ->
    ok = inet:setopts(S, [{packet, line}]),
    {ok, Line} = gen_tcp:recv(S, 0, 15000),
    ok = inet:setopts(S, [{packet, raw}]),
    case binary_to_integer(string:trim(hd(binary:split(Line, <<";">>)), trailing), 16) of
        0 ->
            {ok, _} = gen_tcp:recv(S, 2, 15000),
            N;
        Size ->
            {ok, _} = gen_tcp:recv(S, Size + 2, 15000),
            recv_chunked(S, N + Size)
    end.

%% The largest growth of erlang:memory(total) over the first sample, on
%% each node, every 50 ms.
sampler(Nodes) ->
    Base = [{N, erpc:call(N, erlang, memory, [total])} || N <- Nodes],
    spawn_link(fun() -> sample(Base, #{}) end).

sample(Base, Max) ->
    receive {stop, From} -> From ! {growth, maps:to_list(Max)}
    after 50 ->
            sample(Base, lists:foldl(fun({N, B}, M) ->
                                             G = erpc:call(N, erlang, memory, [total]) - B,
                                             M#{N => max(G, maps:get(N, M, 0))}
                                     end, Max, Base))
    end.

stop_sampler(Pid) ->
    Pid ! {stop, self()},
    receive {growth, G} -> G after 5000 -> ct:fail(sampler_stuck) end.

%%% Topics

%% Four WebSocket clients on each of two edge nodes subscribe to a topic;
%% a publisher on each node sends 50 messages at once: every client gets
%% all 100, once each, each publisher's in order. broadcast_from skips the
%% sender. The second edge node leaves: the first's broadcasts go on to its
%% own subscribers.
topics_across_two_edges(Config) ->
    Port1 = ?config(port, Config),
    E2 = start_node(e2),
    {ok, _} = erpc:call(E2, ferry, start_listener,
                        [cluster_edge2, #{ip => <<"127.0.0.1">>, port => 0,
                                          routes => ?config(routes, Config)}]),
    Port2 = erpc:call(E2, ferry, port_number, [cluster_edge2]),
    Topic = <<"room">>,
    Clients = [client(P, Topic) || P <- [Port1, Port1, Port1, Port1, Port2, Port2, Port2, Port2]],
    [receive {subscribed, _, _} -> ok after 10000 -> ct:fail(not_subscribed) end
     || _ <- Clients],
    Both = lists:sort([node(), E2]),
    ok = ferry_test_lib:wait_until(fun() -> ferry_pubsub:subscribers(Topic) =:= Both andalso
                                                erpc:call(E2, ferry_pubsub, subscribers, [Topic])
                                                =:= Both end, 10000),
    Publish = fun(Prefix) ->
                      fun() -> [ferry_pubsub:broadcast(Topic, [{text, [Prefix, integer_to_binary(I)]}])
                                || I <- lists:seq(1, 50)], ok end
              end,
    spawn_link(Publish(<<"a">>)),
    erpc:cast(E2, erlang, apply, [Publish(<<"b">>), []]),
    Want = lists:sort([<<P/binary, (integer_to_binary(I))/binary>>
                       || P <- [<<"a">>, <<"b">>], I <- lists:seq(1, 50)]),
    [begin
         Got = [recv_text(S) || _ <- lists:seq(1, 100)],
         ?assertEqual(Want, lists:sort(Got)),
         [?assertEqual(lists:sort(Mine), Mine)
          || P <- [$a, $b], Mine <- [[binary_to_integer(N) || <<C, N/binary>> <- Got, C =:= P]]]
     end || S <- Clients],
    %% broadcast_from: all but the sender (a client on the second node).
    [First | Others] = lists:reverse(Clients),
    ferry_ws_client:send(First, text, <<"from:hi">>),
    [?assertEqual(<<"hi">>, recv_text(S)) || S <- Others],
    ok = ferry_pubsub:broadcast(Topic, [{text, <<"end">>}]),
    [?assertEqual(<<"end">>, recv_text(S)) || S <- Clients],
    %% The second node goes: pg drops its forwarder, broadcasts go on.
    halt_node(E2),
    ok = ferry_test_lib:wait_until(fun() -> ferry_pubsub:subscribers(Topic) =:= [node()] end,
                                   10000),
    ok = ferry_pubsub:broadcast(Topic, [{text, <<"after">>}]),
    [?assertEqual(<<"after">>, recv_text(S)) || S <- lists:sublist(Clients, 4)],
    %% Unsubscribing the last local connections takes this node out too.
    [ferry_ws_client:send(S, text, <<"leave">>) || S <- lists:sublist(Clients, 4)],
    [receive {unsubscribed, _} -> ok after 10000 -> ct:fail(not_unsubscribed) end
     || _ <- lists:seq(1, 4)],
    ?assertEqual([], ferry_pubsub:subscribers(Topic)),
    [ferry_ws_client:close(S) || S <- lists:sublist(Clients, 4)].

client(Port, Topic) ->
    {ok, S, _} = ferry_ws_client:connect(Port, <<"/ws/", Topic/binary>>),
    S.

recv_text(S) ->
    {text, Text} = ferry_ws_client:recv(S),
    Text.

%% The forwarder of each edge node is killed: its supervisor restarts it,
%% and the new one finds the node's subscriptions (they are in tables its
%% supervisor owns), rejoins the topic's group and monitors the
%% connections again. Broadcasts from either node reach all subscribers;
%% the connections leaving afterwards take the node out of the group.
topic_forwarder_killed(Config) ->
    Topic = <<"restarts">>,
    {_Peer, E2, Here, There} = two_edges(Config, Topic),
    Kill = fun() -> Old = whereis(ferry_pubsub), exit(Old, kill), Old end,
    Old1 = Kill(),
    Old2 = erpc:call(E2, erlang, apply, [Kill, []]),
    ok = ferry_test_lib:wait_until(fun() ->
                                           is_pid(whereis(ferry_pubsub)) andalso
                                               whereis(ferry_pubsub) =/= Old1 andalso
                                               is_pid(erpc:call(E2, erlang, whereis, [ferry_pubsub]))
                                               andalso erpc:call(E2, erlang, whereis, [ferry_pubsub])
                                               =/= Old2
                                   end, 10000),
    ok = subscribed_on(Topic, [node(), E2], [node(), E2], fun(M, F, A) -> erpc:call(E2, M, F, A) end),
    ok = ferry_pubsub:broadcast(Topic, [{text, <<"here">>}]),
    [?assertEqual(<<"here">>, recv_text(S)) || S <- Here ++ There],
    ok = erpc:call(E2, ferry_pubsub, broadcast, [Topic, [{text, <<"there">>}]]),
    [?assertEqual(<<"there">>, recv_text(S)) || S <- Here ++ There],
    [ferry_ws_client:close(S) || S <- Here],
    ok = ferry_test_lib:wait_until(fun() -> ferry_pubsub:subscribers(Topic) =:= [E2] end, 10000),
    ok = erpc:call(E2, ferry_pubsub, broadcast, [Topic, [{text, <<"last">>}]]),
    [?assertEqual(<<"last">>, recv_text(S)) || S <- There].

%% This node's forwarder cannot keep up (suspended here) while another
%% node broadcasts 10,100 messages to its subscribers: with 10,000 waiting,
%% it drops the oldest 100 (counted, logged once) and delivers the rest,
%% in order; its mailbox empties.
topic_forwarder_backlog_bounded(Config) ->
    Topic = <<"backlog">>,
    {_Peer, E2} = start_peer(e2),
    [S1, S2] = Here = [client(?config(port, Config), Topic) || _ <- [1, 2]],
    [receive {subscribed, _, _} -> ok after 10000 -> ct:fail(not_subscribed) end || _ <- Here],
    ok = subscribed_on(Topic, [node()], [node()], fun(M, F, A) -> erpc:call(E2, M, F, A) end),
    Forwarder = whereis(ferry_pubsub),
    Dropped0 = ferry_pubsub:dropped(),
    N = 10100,
    ferry_test_lib:capture_logs(),
    try
        ok = sys:suspend(Forwarder),
        ok = erpc:call(E2, lists, foreach,
                       [fun(I) -> ferry_pubsub:broadcast(Topic, [{text, integer_to_binary(I)}]) end,
                        lists:seq(1, N)]),
        ok = ferry_test_lib:wait_until(
               fun() -> process_info(Forwarder, message_queue_len) =:= {message_queue_len, N} end,
               10000),
        ok = sys:resume(Forwarder),
        [[?assertEqual(integer_to_binary(I), recv_text(S)) || I <- lists:seq(101, N)] || S <- [S1, S2]],
        ?assertEqual(100, ferry_pubsub:dropped() - Dropped0),
        ?assertEqual({message_queue_len, 0}, process_info(Forwarder, message_queue_len)),
        #{dropped := Logged, backlog := 10000} =
            ferry_test_lib:await_log(fun(#{what := W}) -> W =:= topic_broadcasts_dropped end, 5000),
        ?assert(Logged >= 1 andalso Logged =< 100)
    after
        ferry_test_lib:stop_capture()
    end,
    [ferry_ws_client:close(S) || S <- Here].

%% A netsplit between two edge nodes (distribution cut, both alive): each
%% side's broadcasts reach its own subscribers only, and nothing crosses
%% later; once the nodes connect again, pg merges the groups and a
%% broadcast from either side reaches both.
topics_across_a_netsplit(Config) ->
    Topic = <<"split">>,
    {Peer, E2, Here, There} = two_edges(Config, Topic),
    %% E2 is reached over the peer's connection while cut off: a message
    %% over distribution would connect the nodes again.
    OnE2 = fun(M, F, A) -> peer:call(Peer, M, F, A) end,
    true = erlang:disconnect_node(E2),
    ok = subscribed_on(Topic, [node()], [E2], OnE2),
    ok = ferry_pubsub:broadcast(Topic, [{text, <<"split-here">>}]),
    ok = OnE2(ferry_pubsub, broadcast, [Topic, [{text, <<"split-there">>}]]),
    true = net_kernel:connect_node(E2),
    ok = subscribed_on(Topic, [node(), E2], [node(), E2], OnE2),
    ok = ferry_pubsub:broadcast(Topic, [{text, <<"healed-here">>}]),
    ok = OnE2(ferry_pubsub, broadcast, [Topic, [{text, <<"healed-there">>}]]),
    %% Each subscriber's next messages: its own side's from the split (not
    %% the other's), then both from after.
    Healed = [<<"healed-here">>, <<"healed-there">>],
    [begin
         ?assertEqual(Split, recv_text(S)),
         ?assertEqual(Healed, lists:sort([recv_text(S), recv_text(S)]))
     end || {Split, Clients} <- [{<<"split-here">>, Here}, {<<"split-there">>, There}],
            S <- Clients].

%% A second edge node with the suite's routes, and two WebSocket clients
%% subscribed to `Topic' on each node, seen by both nodes.
two_edges(Config, Topic) ->
    {Peer, E2} = start_peer(e2),
    {ok, _} = erpc:call(E2, ferry, start_listener,
                        [cluster_edge2, #{ip => <<"127.0.0.1">>, port => 0,
                                          routes => ?config(routes, Config)}]),
    Port2 = erpc:call(E2, ferry, port_number, [cluster_edge2]),
    Here = [client(?config(port, Config), Topic) || _ <- [1, 2]],
    There = [client(Port2, Topic) || _ <- [1, 2]],
    [receive {subscribed, _, _} -> ok after 10000 -> ct:fail(not_subscribed) end
     || _ <- Here ++ There],
    ok = subscribed_on(Topic, [node(), E2], [node(), E2],
                       fun(M, F, A) -> erpc:call(E2, M, F, A) end),
    {Peer, E2, Here, There}.

%% This node sees `Here' as the topic's nodes, and E2 (called by OnE2)
%% sees `There'.
subscribed_on(Topic, Here, There, OnE2) ->
    ferry_test_lib:wait_until(fun() ->
                                      ferry_pubsub:subscribers(Topic) =:= lists:sort(Here) andalso
                                          OnE2(ferry_pubsub, subscribers, [Topic])
                                          =:= lists:sort(There)
                              end, 10000).
