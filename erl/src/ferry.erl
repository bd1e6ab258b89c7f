%% @doc Public API of ferry: start and stop listeners, and ask them how they
%% are doing. See docs/ERLANG_API.md; option defaults are in ferry_opts.
-module(ferry).

-export([start_listener/2, stop_listener/1, child_spec/2,
         port_number/1, os_pid/1, info/1]).
-export_type([opts/0]).

%% Options of a listener. Erlang-side defaults: ferry_opts:defaults/0.
%% Every other key belongs to the port's `listen' config (ip, port, limits,
%% timeouts, windows; docs/OPTIONS.md) and is passed to Rust, which owns
%% its default.
-type opts() :: #{routes => [{ferry_router:method(), binary(), ferry_router:handler()}],
                  handler => ferry_router:handler(),
                  binary => file:filename_all(),
                  shards => pos_integer(),
                  restart_backoff => {non_neg_integer(), pos_integer()},
                  request_timeout => pos_integer() | infinity,
                  drain_timeout => non_neg_integer(),
                  start_timeout => pos_integer(),
                  ip => inet:ip_address() | binary() | string(),
                  port => inet:port_number(),
                  atom() => term()}.

%% @doc Starts a listener under ferry's own supervisor. Returns once every
%% shard listens, or with the reason one does not: `{bad_option, Key}',
%% `{listen_error, Kind, Message}' (eaddrinuse, eacces, ...),
%% `{spawn_failed, Binary, Reason}', `start_timeout'.
-spec start_listener(atom(), opts()) -> {ok, pid()} | {error, term()}.
start_listener(Name, Opts) when is_atom(Name) ->
    case ferry_opts:validate(Opts) of
        {ok, Valid} ->
            case supervisor:start_child(ferry_sup, spec(Name, Valid)) of
                {ok, Pid} -> {ok, Pid};
                {error, {already_started, _}} -> {error, already_started};
                {error, already_present} -> {error, already_started};
                {error, {{shutdown, {failed_to_start_child, _, Reason}}, _Child}} -> {error, Reason};
                {error, {shutdown, {failed_to_start_child, _, Reason}}} -> {error, Reason};
                {error, Reason} -> {error, Reason}
            end;
        {error, _} = Error ->
            Error
    end.

%% @doc Drains the listener (requests in flight finish, up to
%% `drain_timeout'; new connections are refused), then stops it.
-spec stop_listener(atom()) -> ok | {error, not_found}.
stop_listener(Name) ->
    Id = {ferry_listener, Name},
    case lists:keymember(Id, 1, supervisor:which_children(ferry_sup)) of
        true ->
            [ferry_port:begin_drain(Pid) || Pid <- shards(Name)],
            _ = supervisor:terminate_child(ferry_sup, Id),
            _ = supervisor:delete_child(ferry_sup, Id),
            true = ets:match_delete(ferry_listeners, {{Name, '_'}, '_'}),
            true = ets:match_delete(ferry_listeners, {{Name, '_'}, '_', '_'}),
            _ = persistent_term:erase({ferry_router, Name}),
            ok;
        false ->
            {error, not_found}
    end.

%% @doc A child spec to run the listener under the caller's supervisor
%% (the `ferry' application must be started). Raises
%% `error({bad_option, Key})' on a bad option.
-spec child_spec(atom(), opts()) -> supervisor:child_spec().
child_spec(Name, Opts) when is_atom(Name) ->
    case ferry_opts:validate(Opts) of
        {ok, Valid} -> spec(Name, Valid);
        {error, Bad} -> error(Bad)
    end.

spec(Name, Valid) ->
    #{id => {ferry_listener, Name},
      start => {ferry_listener_sup, start_link, [Name, Valid]},
      restart => permanent,
      shutdown => infinity,
      type => supervisor,
      modules => [ferry_listener_sup]}.

%% @doc The TCP port the listener bound (useful with `port => 0').
-spec port_number(atom()) -> inet:port_number().
port_number(Name) ->
    case ets:lookup(ferry_listeners, {Name, bound}) of
        [{_, _Sup, Port}] -> Port;
        [] -> error(badarg, [Name])
    end.

%% @doc The OS pid of the Rust process of shard 1 (`undefined' while it
%% is being restarted).
-spec os_pid(atom()) -> non_neg_integer() | undefined.
os_pid(Name) ->
    case shards(Name) of
        [First | _] -> ferry_port:os_pid(First);
        [] -> error(badarg, [Name])
    end.

%% @doc Counters of the listener, summed over its shards: `restarts' (of
%% Rust processes), `requests' (seen by the BEAM), `connections' (open now,
%% from the port's stats), plus shard 1's `os_pid' and `port', and `shards'.
-spec info(atom()) -> #{restarts := non_neg_integer(),
                        connections := non_neg_integer(),
                        requests := non_neg_integer(),
                        os_pid := non_neg_integer() | undefined,
                        port := inet:port_number(),
                        atom() => term()}.
info(Name) ->
    case [ferry_port:info(Pid) || Pid <- shards(Name)] of
        [] ->
            error(badarg, [Name]);
        [First | _] = Infos ->
            Sum = fun(Key) -> lists:sum([maps:get(Key, I, 0) || I <- Infos]) end,
            First#{restarts => Sum(restarts),
                   requests => Sum(requests),
                   connections => Sum(connections),
                   shards => length(Infos)}
    end.

%% The shard processes of a listener, shard 1 first.
shards(Name) ->
    Found = [{Shard, Pid} || [Shard, Pid] <- ets:match(ferry_listeners, {{Name, '$1'}, '$2'}),
                             is_integer(Shard), is_process_alive(Pid)],
    [Pid || {_, Pid} <- lists:sort(Found)].
