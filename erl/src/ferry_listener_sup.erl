%% @doc Supervisor of one listener: its shards, one ferry_port each.
%% Shard 1 starts first and binds the port; the others bind the port it
%% got (SO_REUSEPORT). A shard restarts its Rust process by itself, so this
%% supervisor only sees a shard exit on a bug in ferry_port.
-module(ferry_listener_sup).
-behaviour(supervisor).

-export([start_link/2]).
-export([init/1]).

-spec start_link(atom(), ferry_opts:validated()) -> {ok, pid()} | {error, term()}.
start_link(Listener, Opts) ->
    supervisor:start_link(?MODULE, {Listener, Opts}).

init({Listener, #{shards := Shards, router := Router, drain_timeout := Drain} = Opts}) ->
    %% Handlers read the routes from here: no copy per request.
    persistent_term:put({ferry_router, Listener}, Router),
    Children = [#{id => {ferry_port, Shard},
                  start => {ferry_port, start_link, [Listener, Shard, Opts]},
                  restart => permanent,
                  %% terminate/2 drains for up to drain_timeout, then waits 1 s more.
                  shutdown => Drain + 2000,
                  type => worker,
                  modules => [ferry_port]}
                || Shard <- lists:seq(1, Shards)],
    {ok, {#{strategy => one_for_one, intensity => 5, period => 10}, Children}}.
