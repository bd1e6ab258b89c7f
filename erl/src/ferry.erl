%% @doc Public API of ferry: start and stop listeners, and ask them how they
%% are doing. See docs/ERLANG_API.md; option defaults are in ferry_opts.
-module(ferry).

-export([start_listener/2, stop_listener/1, child_spec/2,
         port_number/1, os_pid/1, info/1, format_error/1, format_error/2]).
-export([reload_tls/1]).
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
                  heartbeat_timeout => pos_integer() | infinity,
                  publish_window => pos_integer(),
                  ip => inet:ip_address() | binary() | string(),
                  port => inet:port_number(),
                  atom() => term()}.

-type start_error() :: {bad_option, atom()}
                     | {listen_error, atom(), binary()}
                     | {spawn_failed, file:filename_all(), term()}
                     | {port_exited, integer()}
                     | {unexpected_frame, term()}
                     | start_timeout
                     | already_started
                     | ferry_not_started.
-export_type([start_error/0]).

%% @doc Starts a listener under ferry's own supervisor. Returns once every
%% shard listens, or with the reason one does not (`start_error()',
%% described in docs/ERLANG_API.md; `format_error/1' words it), having
%% logged one line that says why.
-spec start_listener(atom(), opts()) -> {ok, pid()} | {error, start_error()}.
start_listener(Name, Opts) when is_atom(Name) ->
    case ferry_opts:validate(Opts) of
        {ok, Valid} ->
            case supervisor:start_child(ferry_sup, spec(Name, Valid)) of
                {ok, Pid} -> {ok, Pid};
                {error, {already_started, _}} -> {error, already_started};
                {error, already_present} -> {error, already_started};
                %% ferry_listener_sup logged it; the rest is the child spec.
                {error, {{already_started, _}, _Child}} -> {error, already_started};
                {error, {Reason, _Child}} -> {error, Reason};
                {error, Reason} -> {error, Reason}
            end;
        {error, Bad} ->
            ferry_log:report(error, #{what => start_failed, listener => Name, reason => Bad,
                                      detail => ferry_opts:explain(Bad, Opts)}),
            {error, Bad}
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
            ferry_lifecycle:forget(Name);
        false ->
            {error, not_found}
    end.

%% @doc A child spec to run the listener under the caller's supervisor
%% (the `ferry' application must be started); its id is
%% `{ferry_listener, Name}', for `supervisor:terminate_child/2'. Raises
%% `error({bad_option, Key})' on a bad option (the shell says what is wrong
%% with it: see format_error/2).
-spec child_spec(atom(), opts()) -> supervisor:child_spec().
child_spec(Name, Opts) when is_atom(Name) ->
    case ferry_opts:validate(Opts) of
        {ok, Valid} -> spec(Name, Valid);
        {error, Bad} -> erlang:error(Bad, [Name, Opts], [{error_info, #{module => ?MODULE}}])
    end.

spec(Name, Valid) ->
    #{id => {ferry_listener, Name},
      start => {ferry_listener_sup, start_link, [Name, Valid]},
      restart => permanent,
      shutdown => infinity,
      type => supervisor,
      modules => [ferry_listener_sup]}.

%% @doc The TCP port the listener bound (useful with `port => 0').
%% Raises `badarg' when no listener of that name runs.
-spec port_number(atom()) -> inet:port_number().
port_number(Name) ->
    case ets:whereis(ferry_listeners) =/= undefined
        andalso ets:lookup(ferry_listeners, {Name, bound}) of
        [{_, _Sup, Port}] -> Port;
        _ -> no_listener(Name)
    end.

%% @doc The OS pid of the Rust process of shard 1 (`undefined' while it
%% is being restarted). Raises `badarg' when no listener of that name runs.
-spec os_pid(atom()) -> non_neg_integer() | undefined.
os_pid(Name) ->
    case shards(Name) of
        [First | _] -> call_shard(fun ferry_port:os_pid/1, First, undefined);
        [] -> no_listener(Name)
    end.

%% @doc Counters of the listener, summed over its shards: `restarts' (of
%% Rust processes), `requests' (seen by the BEAM), `connections' (open now,
%% from the port's stats), plus shard 1's `os_pid' (`undefined' while its
%% Rust process is restarted) and `port', and `shards'. `restarts' and
%% `requests' count over the listener's life; the Rust process's own
%% counters (`accepted', `bytes_in', `bytes_out', `ignored_commands',
%% `protocol_errors', ...) count since the current Rust process started,
%% and are absent while none runs or when it did not answer within a
%% second. Never blocks much longer than that; raises `badarg' when no
%% listener of that name runs.
-spec info(atom()) -> #{restarts := non_neg_integer(),
                        connections := non_neg_integer(),
                        requests := non_neg_integer(),
                        os_pid := non_neg_integer() | undefined,
                        port := inet:port_number(),
                        atom() => term()}.
info(Name) ->
    case [I || Pid <- shards(Name), I <- [call_shard(fun ferry_port:info/1, Pid, none)],
               I =/= none] of
        [] ->
            no_listener(Name);
        [First | _] = Infos ->
            Sum = fun(Key) -> lists:sum([maps:get(Key, I, 0) || I <- Infos]) end,
            First#{restarts => Sum(restarts),
                   requests => Sum(requests),
                   connections => Sum(connections),
                   shards => length(Infos),
                   metrics => ferry_metrics:read(ferry_lifecycle:metrics(Name))}
    end.

%% @doc Makes every shard read the listener's `tls' files again (after a
%% certificate was renewed): new connections get the new certificate, open
%% ones keep theirs. A file that cannot be used keeps the certificate in
%% use and gives `{error, Message}' (the file and the reason). Raises
%% `badarg' when no listener of that name runs.
-spec reload_tls(atom()) -> ok | {error, binary() | atom()}.
reload_tls(Name) ->
    case shards(Name) of
        [] -> no_listener(Name);
        Shards ->
            Results = [call_shard(fun ferry_port:reload_tls/1, Pid, {error, not_serving})
                       || Pid <- Shards],
            case [E || {error, _} = E <- Results] of
                [] -> ok;
                [First | _] -> First
            end
    end.

%% A shard stopping, or draining in its terminate/2, answers nothing.
call_shard(Fun, Pid, Otherwise) ->
    try Fun(Pid)
    catch exit:_ -> Otherwise
    end.

-spec no_listener(atom()) -> no_return().
no_listener(Name) ->
    erlang:error(badarg, [Name], [{error_info, #{module => ?MODULE, cause => no_listener}}]).

%% @doc A start error (`start_error()') in words, for people.
-spec format_error(term()) -> string().
format_error({bad_option, Key}) ->
    lists:flatten(io_lib:format("bad option ~0tp (unknown, or a bad value)", [Key]));
format_error({listen_error, Kind, Message}) ->
    lists:flatten(io_lib:format("cannot listen (~p): ~ts", [Kind, Message]));
format_error({spawn_failed, Binary, enoent}) ->
    lists:flatten(io_lib:format(
                    "no ferry executable at ~ts: build it (`make build' in Ferry's repository, "
                    "or let rebar3 or mix build the dependency, see README.md), or give its "
                    "path in the binary option", [Binary]));
format_error({spawn_failed, Binary, Reason}) ->
    lists:flatten(io_lib:format("cannot run the ferry executable ~ts: ~0tp", [Binary, Reason]));
format_error({port_exited, Status}) ->
    lists:flatten(["the Rust process exited before it listened: ",
                   ferry_log:port_exit({exit_status, Status}),
                   case Status of
                       8 -> " (the file could not be executed: is it built for this machine?)";
                       0 -> " (is the binary option the ferry executable?)";
                       _ -> ""
                   end]);
format_error({unexpected_frame, Frame}) ->
    lists:flatten(io_lib:format("the Rust process answered listen with ~0tP: is the ferry "
                                "executable the version of this application?", [Frame, 10]));
format_error(start_timeout) ->
    "the Rust process did not listen within start_timeout";
format_error(already_started) ->
    "a listener of this name already runs";
format_error({already_started, Pid}) ->
    lists:flatten(io_lib:format("a listener of this name already runs (~p)", [Pid]));
format_error(ferry_not_started) ->
    "the ferry application is not started (application:ensure_all_started(ferry))";
format_error(Other) ->
    lists:flatten(io_lib:format("~0tp", [Other])).

%% @doc The shell's words for an error this module raised (EEP 54).
-spec format_error(term(), erlang:stacktrace()) -> #{pos_integer() | general => string()}.
format_error(Reason, [{?MODULE, _Fun, Args, Info} | _]) ->
    case {Reason, proplists:get_value(error_info, Info, #{})} of
        {badarg, #{cause := no_listener}} ->
            #{1 => "no listener of this name runs"};
        {{bad_option, _}, _} when is_list(Args), length(Args) =:= 2 ->
            #{2 => lists:flatten(io_lib:format("~ts", [ferry_opts:explain(Reason, lists:last(Args))]))};
        _ ->
            #{}
    end;
format_error(_Reason, _Stack) ->
    #{}.

%% The shard processes of a listener, shard 1 first.
shards(Name) ->
    Found = [{Shard, Pid} || [Shard, Pid] <- ets:match(ferry_listeners, {{Name, '$1'}, '$2'}),
                             is_integer(Shard), is_process_alive(Pid)],
    [Pid || {_, Pid} <- lists:sort(Found)].
