%% @doc Top supervisor of the application: listeners started with
%% ferry:start_listener/2 live here. It also owns the `ferry_listeners'
%% table, where shards register and shard 1 records the port it bound.
-module(ferry_sup).
-behaviour(supervisor).

-export([start_link/0]).
-export([init/1]).

-spec start_link() -> {ok, pid()} | {error, term()}.
start_link() ->
    supervisor:start_link({local, ?MODULE}, ?MODULE, []).

init([]) ->
    ferry_listeners = ets:new(ferry_listeners, [named_table, public, set,
                                                {read_concurrency, true}]),
    %% Ferry's pg scope (topics and handler groups across nodes) and this
    %% node's topic forwarder (ferry_pubsub, ferry_remote). Its tables are
    %% this process's, so that its subscriptions survive it.
    ok = ferry_pubsub:tables(),
    Cluster = [ferry_pubsub:scope_spec(),
               #{id => ferry_pubsub, start => {ferry_pubsub, start_link, []}, type => worker}],
    {ok, {#{strategy => one_for_one, intensity => 10, period => 10}, Cluster}}.
