%% Handlers of ferry_cluster_SUITE, loaded on every node of the test (the
%% peers get this directory with -pa): a remote handler group member that
%% tells the test which node started which request, and a WebSocket that
%% subscribes to a topic.
-module(ferry_cluster_h).

-export([handle/2, upgrade/1]).
-export([websocket_init/1, websocket_handle/2, websocket_info/2]).

-define(CHUNK, 65536).

%% `Test' is told `{started, Token, Node}' for each echo request.
handle(Req, Test) ->
    case ferry_req:path_info(Req) of
        [<<"echo">>, Token, Ms] ->
            Test ! {started, Token, node()},
            timer:sleep(binary_to_integer(Ms)),
            {200, [], [Token, $@, atom_to_binary(node())]};
        [<<"upload">>] ->
            {Size, Hash} = read_all(Req, 0, crypto:hash_init(sha256)),
            {200, [], [integer_to_binary(Size), $\s, binary:encode_hex(Hash)]};
        [<<"stream">>, MiB] ->
            Req1 = ferry_req:stream_reply(200, [], Req),
            Chunk = binary:copy(<<"s">>, ?CHUNK),
            Req2 = lists:foldl(fun(_, R) -> ferry_req:stream_body(Chunk, nofin, R) end, Req1,
                               lists:seq(1, binary_to_integer(MiB) * 16)),
            {done, ferry_req:stream_body(<<>>, fin, Req2)};
        [<<"node">>] ->
            {200, [], atom_to_binary(node())}
    end.

read_all(Req, Size, Ctx) ->
    case ferry_req:read_body(Req) of
        {more, Data, Req1} -> read_all(Req1, Size + byte_size(Data), crypto:hash_update(Ctx, Data));
        {ok, Data, _} -> {Size + byte_size(Data), crypto:hash_final(crypto:hash_update(Ctx, Data))}
    end.

%% /ws/:topic — subscribes to `topic' and tells the test process (its pid
%% in a persistent term the suite sets on each node).
upgrade(Req) ->
    Test = persistent_term:get({?MODULE, test}),
    {websocket, ?MODULE, #{topic => ferry_req:binding(topic, Req), test => Test}}.

websocket_init(#{topic := Topic, test := Test} = S) ->
    ok = ferry_pubsub:subscribe(Topic),
    Test ! {subscribed, self(), node()},
    {ok, S}.

websocket_handle({text, <<"from:", Said/binary>>}, #{topic := Topic} = S) ->
    ok = ferry_pubsub:broadcast_from(Topic, [{text, Said}]),
    {ok, S};
websocket_handle({text, <<"leave">>}, #{topic := Topic, test := Test} = S) ->
    ok = ferry_pubsub:unsubscribe(Topic),
    Test ! {unsubscribed, self()},
    {ok, S};
websocket_handle(_Frame, S) ->
    {ok, S}.

websocket_info(_Info, S) ->
    {ok, S}.
