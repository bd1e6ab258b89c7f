%% @doc Supervisor of one listener: its shards, one ferry_port each.
%% Shard 1 starts first and binds the port; the others bind the port it
%% got (SO_REUSEPORT). A shard restarts its Rust process by itself, so this
%% supervisor only sees a shard exit on a bug in ferry_port.
-module(ferry_listener_sup).
-behaviour(supervisor).

-export([start_link/2]).
-export([init/1]).

%% @doc Starts the listener; returns once every shard listens. A shard
%% that cannot start (address in use, an option the Rust process refuses)
%% has logged one line saying why; this returns its reason as it is
%% (`{bad_option, Key}', `{listen_error, Kind, Message}', ...).
-spec start_link(atom(), ferry_opts:validated()) -> {ok, pid()} | {error, term()}.
start_link(Listener, #{shards := Shards} = Opts) ->
    {ok, Sup} = supervisor:start_link(?MODULE, {Listener, Opts}),
    %% Shards are added one by one rather than listed in init/1: a child
    %% that fails in init/1 makes the supervisor print a report of a page
    %% around a failure its shard already logged in one line.
    case start_shards(Sup, Listener, Opts, lists:seq(1, Shards)) of
        ok ->
            log_listening(Listener, Sup, Opts),
            {ok, Sup};
        {error, Reason} ->
            unlink(Sup),
            ok = proc_lib:stop(Sup),
            {error, Reason}
    end.

init({Listener, #{router := Router} = Opts}) ->
    %% Handlers read the routes from here: no copy per request.
    persistent_term:put({ferry_router, Listener}, Router),
    ferry_lifecycle:setup(Listener, Opts),
    {ok, {#{strategy => one_for_one, intensity => 5, period => 10}, []}}.

start_shards(_Sup, _Listener, _Opts, []) ->
    ok;
start_shards(Sup, Listener, #{drain_timeout := Drain} = Opts, [Shard | Rest]) ->
    Child = #{id => {ferry_port, Shard},
              start => {ferry_port, start_link, [Listener, Shard, Opts]},
              restart => permanent,
              %% terminate/2 drains for up to drain_timeout, then waits 1 s more.
              shutdown => Drain + 2000,
              type => worker,
              modules => [ferry_port]},
    case supervisor:start_child(Sup, Child) of
        {ok, _} -> start_shards(Sup, Listener, Opts, Rest);
        {error, {Reason, _ChildInfo}} -> {error, Reason}
    end.

%% Once per listener, where it serves, as Bandit says it: a newcomer sees
%% the address to try.
log_listening(Listener, Sup, #{router := Router, shards := Shards} = Opts) ->
    [First | _] = [Pid || {{ferry_port, 1}, Pid, _, _} <- supervisor:which_children(Sup)],
    #{ip := Ip, port := Port, version := Version} = ferry_port:address(First),
    ferry_log:report(notice, #{what => listening, listener => Listener, ip => Ip, port => Port,
                               version => Version, shards => Shards,
                               scheme => case Opts of
                                             #{listen := #{tls := _}} -> https;
                                             _ -> http
                                         end,
                               handler => ferry_router:summary(Router)}).
