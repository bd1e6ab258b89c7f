%% @doc Topics across BEAM nodes (docs/CLUSTER.md "Topics"): the cluster
%% form of ferry_ws groups.
%%
%% A topic is a ferry_ws group of the same name on every node. Locally,
%% Rust keeps its members and fans a message out, encoded once. Across
%% nodes, each node has one forwarder (this module's registered process):
%% it is the member of the `pg' group `{topic, Topic}' in Ferry's scope
%% (`ferry_cluster') for as long as a connection of its node is subscribed.
%% A broadcast is one `port_command' per local shard with subscribers and
%% one message per other node with subscribers, whatever their number;
%% that node's forwarder hands it to its own Rust fan-out.
%%
%% Order: a publisher's messages reach a subscriber by one path (its own
%% port commands for a local subscriber; publisher → forwarder → port for a
%% remote one), and each step keeps the order of what one sender sent.
%% Nodes that leave or are cut off leave every group (`pg' does it): their
%% subscribers get nothing more until the nodes meet again, when `pg'
%% merges the groups back. Nothing is replayed.
%%
%% A forwarder that cannot keep up (its node's Rust is busy, so each
%% `port_command' waits) does not let its mailbox grow without end: while
%% more than ?BACKLOG broadcasts wait, it drops the oldest, counts them
%% (`dropped/0') and says so in the log at most once a second.
%%
%% The subscriptions outlive the forwarder: they are in tables that ferry_sup
%% owns (tables/0), and a restarted forwarder monitors the subscribers
%% again and rejoins the groups (init/1). Only the broadcasts that other
%% nodes sent to the dead forwarder are lost.
%%
%% `subscribe/1', `unsubscribe/1' and `broadcast_from/2' are called from a
%% WebSocket process (one running a `ferry_websocket' module); `broadcast/2'
%% from any process of any node. Frames as in ferry_ws.
-module(ferry_pubsub).
-behaviour(gen_server).

-export([subscribe/1, unsubscribe/1, broadcast/2, broadcast_from/2, subscribers/1, dropped/0]).
-export([start_link/0, scope_spec/0, tables/0]).
-export([init/1, handle_call/3, handle_cast/2, handle_info/2]).

-define(SCOPE, ferry_cluster).
%% {{Topic, Listener}, Count}: this node's subscribed connections by
%% listener, read by publishers; and {?DROPPED, Count}. Written by the
%% forwarder only.
-define(TABLE, ferry_pubsub_local).
%% A bag of {Subscriber, {Topic, Listener}}: what each connection is
%% subscribed to, for the forwarder (and the next one, if it dies).
-define(SUBS, ferry_pubsub_subs).

%% Messages that may wait behind the one the forwarder handles: a
%% broadcast from another node that comes with this many behind it is
%% dropped.
-define(BACKLOG, 10000).
%% ?TABLE's key for the broadcasts this node's forwarders have dropped.
-define(DROPPED, dropped).

-record(state, {%% Subscriber pid => its monitor
                monitors = #{} :: #{pid() => reference()},
                %% Dropped since the last log report, and when that was.
                unreported = 0 :: non_neg_integer(),
                reported :: integer() | undefined}).

%%% API

%% @doc The calling WebSocket connection subscribes to `Topic' on every
%% node. Subscribing twice is once.
-spec subscribe(binary()) -> ok.
subscribe(Topic) when is_binary(Topic) ->
    ok = ferry_ws:join(Topic),
    gen_server:call(?MODULE, {subscribe, self(), Topic, listener()}).

%% @doc The calling connection leaves `Topic'.
-spec unsubscribe(binary()) -> ok.
unsubscribe(Topic) when is_binary(Topic) ->
    ok = ferry_ws:leave(Topic),
    gen_server:call(?MODULE, {unsubscribe, self(), Topic, listener()}).

%% @doc `Frames' to every subscriber of `Topic' on every node.
-spec broadcast(binary(), [ferry_websocket:command()]) -> ok.
broadcast(Topic, Frames) when is_binary(Topic), is_list(Frames) ->
    fan_out(Topic, Frames, none).

%% @doc `Frames' to every subscriber of `Topic' but the calling connection.
-spec broadcast_from(binary(), [ferry_websocket:command()]) -> ok.
broadcast_from(Topic, Frames) when is_binary(Topic), is_list(Frames) ->
    fan_out(Topic, Frames, listener()).

%% @doc How many broadcasts from other nodes this node's forwarder has
%% dropped because more than 10,000 were waiting for it.
-spec dropped() -> non_neg_integer().
dropped() ->
    case ets:lookup(?TABLE, ?DROPPED) of
        [{_, N}] -> N;
        [] -> 0
    end.

%% @doc The nodes with subscribers of `Topic' (as this node sees them).
-spec subscribers(binary()) -> [node()].
subscribers(Topic) ->
    lists:usort([node(P) || P <- pg:get_members(?SCOPE, {topic, Topic})]).

fan_out(Topic, Frames, Except) ->
    %% Checked before anything is sent: a bad frame raises in the caller,
    %% never in a forwarder.
    _ = [case ferry_protocol:ws_frame(F) of
             {ok, _, _} -> ok;
             error -> error({bad_frame, F})
         end || F <- Frames],
    _ = [Forwarder ! {ferry_broadcast, Topic, Frames}
         || Forwarder <- pg:get_members(?SCOPE, {topic, Topic}), node(Forwarder) =/= node()],
    publish_local(Topic, Frames, Except).

publish_local(Topic, Frames, Except) ->
    lists:foreach(fun(Listener) when Listener =:= Except -> ferry_ws:publish_from(Topic, Frames);
                     (Listener) -> ferry_ws:publish(Listener, Topic, Frames)
                  end, local_listeners(Topic)),
    ok.

local_listeners(Topic) ->
    ets:select(?TABLE, [{{{Topic, '$1'}, '_'}, [], ['$1']}]).

listener() ->
    ferry_ws:listener().

%%% The forwarder

%% @private Under ferry_sup, after the scope.
-spec start_link() -> {ok, pid()} | {error, term()}.
start_link() ->
    gen_server:start_link({local, ?MODULE}, ?MODULE, [], []).

%% @private Ferry's own `pg' scope, for topics and handler groups across nodes.
-spec scope_spec() -> supervisor:child_spec().
scope_spec() ->
    #{id => ?SCOPE, start => {pg, start_link, [?SCOPE]}, type => worker}.

%% @private Created by ferry_sup, which outlives the forwarder. Public only
%% because their owner is not the forwarder: nothing else writes them.
-spec tables() -> ok.
tables() ->
    ?TABLE = ets:new(?TABLE, [named_table, public, set, {read_concurrency, true}]),
    ?SUBS = ets:new(?SUBS, [named_table, public, bag]),
    ok.

%% A forwarder after a crash finds the subscriptions of the one before:
%% it monitors their connections (a dead one is a 'DOWN' at once), counts
%% them again (the crash may have come between the two tables' writes)
%% and rejoins the topics' groups, which pg dropped with the dead pid.
init([]) ->
    Subs = ets:tab2list(?SUBS),
    Counts = lists:foldl(fun({_, Key}, C) -> C#{Key => maps:get(Key, C, 0) + 1} end, #{}, Subs),
    _ = [ets:delete(?TABLE, Key) || {Key, _} <- ets:tab2list(?TABLE), Key =/= ?DROPPED, not is_map_key(Key, Counts)],
    true = ets:insert(?TABLE, maps:to_list(Counts)),
    _ = [pg:join(?SCOPE, {topic, Topic}, self())
         || Topic <- lists:usort([T || {T, _} <- maps:keys(Counts)])],
    {ok, #state{monitors = maps:from_list([{Pid, erlang:monitor(process, Pid)}
                                           || Pid <- lists:usort([P || {P, _} <- Subs])])}}.

handle_call({subscribe, Pid, Topic, Listener}, _From, #state{monitors = Mons} = S) ->
    Key = {Topic, Listener},
    case ets:match_object(?SUBS, {Pid, Key}) of
        [_] ->
            {reply, ok, S};
        [] ->
            true = ets:insert(?SUBS, {Pid, Key}),
            add(Key),
            case is_map_key(Pid, Mons) of
                true -> {reply, ok, S};
                false -> {reply, ok, S#state{monitors = Mons#{Pid => erlang:monitor(process, Pid)}}}
            end
    end;
handle_call({unsubscribe, Pid, Topic, Listener}, _From, #state{monitors = Mons} = S) ->
    Key = {Topic, Listener},
    case ets:match_object(?SUBS, {Pid, Key}) of
        [_] ->
            true = ets:delete_object(?SUBS, {Pid, Key}),
            remove(Key),
            case ets:member(?SUBS, Pid) of
                true ->
                    {reply, ok, S};
                false ->
                    erlang:demonitor(maps:get(Pid, Mons), [flush]),
                    {reply, ok, S#state{monitors = maps:remove(Pid, Mons)}}
            end;
        [] ->
            {reply, ok, S}
    end.

handle_cast(_Request, S) ->
    {noreply, S}.

handle_info({ferry_broadcast, Topic, Frames}, S) ->
    case process_info(self(), message_queue_len) of
        {message_queue_len, Waiting} when Waiting >= ?BACKLOG ->
            {noreply, drop(S)};
        _ ->
            publish_local(Topic, Frames, none),
            {noreply, S}
    end;
handle_info({'DOWN', _Ref, process, Pid, _}, #state{monitors = Mons} = S) ->
    %% Rust took the closed connection out of its groups already.
    _ = [remove(Key) || {_, Key} <- ets:take(?SUBS, Pid)],
    {noreply, S#state{monitors = maps:remove(Pid, Mons)}};
handle_info(_Info, S) ->
    {noreply, S}.

drop(#state{unreported = Unreported, reported = Reported} = S) ->
    _ = ets:update_counter(?TABLE, ?DROPPED, 1, {?DROPPED, 0}),
    Now = erlang:monotonic_time(millisecond),
    case Reported =:= undefined orelse Now - Reported >= 1000 of
        true ->
            ferry_log:report(warning, #{what => topic_broadcasts_dropped, dropped => Unreported + 1,
                                        backlog => ?BACKLOG}),
            S#state{unreported = 0, reported = Now};
        false ->
            S#state{unreported = Unreported + 1}
    end.

%% The first subscriber of a topic on this node puts the forwarder in its
%% group; the last one takes it out.
add({Topic, _} = Key) ->
    First = not has_topic(Topic),
    ets:update_counter(?TABLE, Key, 1, {Key, 0}),
    First andalso pg:join(?SCOPE, {topic, Topic}, self()),
    ok.

remove({Topic, _} = Key) ->
    case ets:update_counter(?TABLE, Key, -1, {Key, 1}) of
        0 -> ets:delete(?TABLE, Key);
        _ -> ok
    end,
    has_topic(Topic) orelse pg:leave(?SCOPE, {topic, Topic}, self()),
    ok.

has_topic(Topic) ->
    ets:select_count(?TABLE, [{{{Topic, '_'}, '_'}, [], [true]}]) > 0.
