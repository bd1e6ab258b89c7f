%% @doc Owner of one Rust port process (one shard of a listener).
%%
%% On the request path it does the least it can: read the id of a request
%% frame, spawn a handler process (ferry_handler) that decodes the rest,
%% remember Id -> Pid; and forward body, credit, close and WebSocket
%% events to that process. Handlers write
%% their answers to the port themselves. The Id <-> Pid maps live in the
%% process dictionary (as in Ranch's connection supervisor): the cheapest
%% place for a table touched twice per request; those of handlers without
%% a deadline (WebSockets, streams) in a map beside it (see entry/1).
%%
%% When the Rust process dies, this process stays: it cleans up the
%% handlers of the dead port and opens a new one on the same address after
%% an exponential back-off, so a crash loop never reaches the supervisor of
%% the application that embeds the listener.
-module(ferry_port).
-behaviour(gen_server).

-include("ferry_ctx.hrl").

-export([start_link/3, port_number/1, os_pid/1, info/1, address/1, begin_drain/1,
         reload_tls/1]).
-export([enter/1, init/1, handle_call/3, handle_cast/2, handle_info/2, terminate/2]).

%% A port that served this long before dying is restarted after the
%% shortest back-off again.
-define(STABLE_MS, 5000).
%% How often deadlines are checked; a deadline is late by at most this.
-define(SWEEP_MS, 100).
%% How long a port closed by a failed write waits for its exit status.
-define(EXIT_STATUS_WAIT_MS, 100).
%% How long info/1 waits for the Rust process's counters before it answers
%% with the BEAM's own: a hung process must not hang its callers.
-define(INFO_WAIT_MS, 1000).
-define(REGISTRY, ferry_listeners).
%% The handlers without a deadline (see entry/1).
-define(LASTING, '$ferry_lasting').
%% The writer process of a port (see command/2).
-define(WRITER, '$ferry_writer').

-record(state, {listener :: atom(),
                shard :: pos_integer(),
                opts :: ferry_opts:validated(),
                %% The `listen' config; `port' is the bound one after the
                %% first `ready', so a new port binds the same address.
                listen :: #{atom() => term()},
                port :: port() | undefined,
                os_pid :: non_neg_integer() | undefined,
                %% What `ready' said: the address listened on and the version.
                ready = #{} :: map(),
                %% Handlers' context, all but the request id.
                ctx :: #ferry_ctx{} | undefined,
                phase = starting :: starting | serving | backoff | draining | drained,
                started_at = 0 :: integer(),
                restarts = 0 :: non_neg_integer(),
                %% Failures since the port last served for ?STABLE_MS.
                failures = 0 :: non_neg_integer(),
                requests = 0 :: non_neg_integer(),
                stats_waiters = [] :: [gen_server:from()],
                %% Callers of reload_tls/1, answered by `tls_reloaded'.
                tls_waiters = [] :: [gen_server:from()],
                %% When the `stats' request still unanswered was sent, and
                %% when the heartbeat last sent one.
                stats_sent_at :: integer() | undefined,
                heartbeat_asked_at = 0 :: integer(),
                %% Bytes read from the port so far, and when they last grew:
                %% a Rust process that writes is alive, answered or not.
                input_seen = 0 :: non_neg_integer(),
                progress_at = 0 :: integer(),
                %% The heartbeat killed this os pid: its exit is named so.
                hung_kill :: non_neg_integer() | undefined,
                %% The publish window of the current port (ferry_fanout),
                %% and the publishers waiting for it.
                fanout :: ferry_fanout:window() | undefined,
                fanout_waiters :: ferry_fanout:waiters() | undefined}).

%%% API

-spec start_link(atom(), pos_integer(), ferry_opts:validated()) ->
          {ok, pid()} | {error, term()}.
start_link(Listener, Shard, Opts) ->
    proc_lib:start_link(?MODULE, enter, [{Listener, Shard, Opts}]).

%% @private Started by proc_lib, not gen_server:start_link/3: a Rust
%% process that cannot listen (address in use, a bad option) is an ordinary
%% failure, returned to the caller and logged once, here; `{stop, Reason}'
%% from init/1 would add a crash report to it. (OTP 26's `{error, Reason}'
%% from init/1 does the same as this.)
-spec enter({atom(), pos_integer(), ferry_opts:validated()}) -> no_return().
enter(Args) ->
    case init(Args) of
        {ok, S} ->
            proc_lib:init_ack({ok, self()}),
            gen_server:enter_loop(?MODULE, [], S);
        {stop, {Reason, Detail}} ->
            {Listener, Shard, _} = Args,
            ferry_log:report(error, #{what => start_failed, listener => Listener, shard => Shard,
                                      reason => Reason, detail => Detail}),
            proc_lib:init_ack({error, Reason}),
            exit(normal)
    end.

-spec port_number(pid()) -> inet:port_number().
port_number(Pid) -> gen_server:call(Pid, port_number).

-spec os_pid(pid()) -> non_neg_integer() | undefined.
os_pid(Pid) -> gen_server:call(Pid, os_pid).

%% @doc The shard's counters. Within about a second: from a Rust process
%% that does not answer `stats' in time, only the BEAM's own.
-spec info(pid()) -> map().
info(Pid) -> gen_server:call(Pid, info).

%% @doc Makes the shard's Rust process read its `tls' files again.
-spec reload_tls(pid()) -> ok | {error, binary() | atom()}.
reload_tls(Pid) -> gen_server:call(Pid, reload_tls, 15000).

%% @doc Where the shard listens, and the Rust program's version.
-spec address(pid()) -> #{ip := binary(), port := inet:port_number(), version := binary()}.
address(Pid) -> gen_server:call(Pid, address).

%% @doc Tells the port to stop accepting and finish what is in flight;
%% terminate/2 then waits for it. Lets stop_listener drain shards at once.
-spec begin_drain(pid()) -> ok.
begin_drain(Pid) -> gen_server:cast(Pid, begin_drain).

%%% gen_server

%% A failure is `{stop, {Reason, Detail}}': the reason start_link returns,
%% and what the log line adds to it (see enter/1).
init({Listener, Shard, Opts}) ->
    process_flag(trap_exit, true),
    case taken(Listener, Shard) of
        undefined_registry ->
            {stop, {ferry_not_started, ""}};
        false ->
            case listen_config(Listener, Shard, Opts) of
                {ok, Listen} ->
                    S0 = #state{listener = Listener, shard = Shard, opts = Opts, listen = Listen},
                    case open(S0) of
                        {ok, S1} -> first_ready(S1);
                        {error, Reason} -> {stop, {Reason, ""}}
                    end;
                {error, Reason} ->
                    {stop, {Reason, ""}}
            end;
        {true, Sup} ->
            {stop, {{already_started, Sup}, ""}}
    end.

%% Another listener of this name runs (in some other supervisor)? Then
%% the pid of its supervisor, as supervisors answer `already_started'.
taken(Listener, Shard) ->
    case ets:whereis(?REGISTRY) =/= undefined andalso ets:lookup(?REGISTRY, {Listener, Shard}) of
        false ->
            undefined_registry;
        [{_, Pid}] ->
            case is_process_alive(Pid) of
                true -> {true, listener_sup(Listener, Pid)};
                false -> false
            end;
        [] ->
            false
    end.

listener_sup(Listener, Shard) ->
    case ets:lookup(?REGISTRY, {Listener, bound}) of
        [{_, Sup, _}] -> Sup;
        [] -> Shard
    end.

first_ready(#state{port = Port, opts = #{start_timeout := Timeout}} = S) ->
    case await_ready(S, erlang:monotonic_time(millisecond) + Timeout) of
        {ok, S1} ->
            true = ets:insert(?REGISTRY, {{S#state.listener, S#state.shard}, self()}),
            erlang:send_after(?SWEEP_MS, self(), sweep),
            {ok, S1};
        {error, Reason, Detail} ->
            catch erlang:port_close(Port),
            {stop, {Reason, Detail}}
    end.

%% Only shard 1 chooses the port; the others bind the port it got, with
%% SO_REUSEPORT. A restarted shard 1 binds the port its predecessor got.
listen_config(Listener, Shard, #{listen := Listen, shards := Shards}) ->
    Shared = case Shards of
                 1 -> Listen;
                 _ -> Listen#{reuseport => true}
             end,
    case {Shard, ets:lookup(?REGISTRY, {Listener, bound})} of
        {1, [{_, Sup, Bound}]} ->
            case Sup =:= parent() of
                true -> {ok, Shared#{port => Bound}};
                false -> {ok, Shared}   % a listener of the same name before
            end;
        {1, []} ->
            {ok, Shared};
        {_, [{_, _Sup, Bound}]} ->
            {ok, Shared#{port => Bound}};
        {_, []} ->
            {error, {no_first_shard, Listener}}
    end.

handle_call(port_number, _From, #state{listen = #{port := Port}} = S) ->
    {reply, Port, S};
handle_call(os_pid, _From, S) ->
    {reply, S#state.os_pid, S};
handle_call(address, _From, #state{ready = Ready, listen = #{port := Port}} = S) ->
    {reply, #{ip => maps:get(ip, Ready, <<"?">>), port => Port,
              version => maps:get(version, Ready, <<"?">>)}, S};
handle_call(info, From, #state{phase = serving} = S) ->
    erlang:send_after(?INFO_WAIT_MS, self(), {info_timeout, From}),
    {noreply, ask_stats(S#state{stats_waiters = [From | S#state.stats_waiters]})};
handle_call(info, _From, S) ->
    {reply, info_map(S, #{}), S};
handle_call(reload_tls, From, #state{phase = serving, port = Port} = S) ->
    command(Port, term_to_binary(reload_tls)),
    {noreply, S#state{tls_waiters = S#state.tls_waiters ++ [From]}};
handle_call(reload_tls, _From, S) ->
    {reply, {error, not_serving}, S};
handle_call({fanout_wait, Port, Ticket}, From, #state{port = Port, fanout = Window} = S)
  when Window =/= undefined ->
    {noreply, S#state{fanout_waiters = ferry_fanout:wait(Window, Ticket, From, S#state.fanout_waiters)}};
handle_call({fanout_wait, _StalePort, _Ticket}, _From, S) ->
    %% A port already gone: the command goes nowhere.
    {reply, ok, S}.

handle_cast(begin_drain, S) ->
    {noreply, begin_draining(S)}.

handle_info({Port, {data, Frame}}, #state{port = Port} = S) ->
    case ferry_protocol:request_id(Frame) of
        undefined -> {noreply, event(ferry_protocol:decode(Frame), S)};
        Id -> {noreply, request(Id, Frame, S)}
    end;
handle_info({'EXIT', Pid, Reason}, S) when is_pid(Pid) ->
    handler_exit(Pid, Reason, S),
    {noreply, S};
handle_info({ferry_progress, Id, Pid}, S) ->
    %% A handler reading its request body is working: its deadline restarts.
    case get(Id) of
        {Pid, When, timeout} when When =/= infinity -> put(Id, {Pid, deadline(S), timeout});
        _ -> ok
    end,
    {noreply, S};
handle_info({ferry_websocket, Id, Pid}, S) ->
    %% An upgraded handler: no deadline, and closed if it dies (ws_exit).
    case entry(Id) of
        {Pid, _, timeout} -> update(Id, {Pid, infinity, websocket});
        _ -> ok
    end,
    {noreply, S};
handle_info({ferry_streaming, Id, Pid}, S) ->
    %% The pid tells this handler from one of a dead port with the same id.
    case entry(Id) of
        {Pid, _, timeout} ->
            update(Id, {Pid, infinity, timeout}),
            remote_streaming(Id, Pid);
        _ -> ok
    end,
    {noreply, S};
handle_info({ferry_remote, _, _, _, _, _} = HandOver, S) ->
    remote_hand_over(HandOver),
    {noreply, S};
handle_info({ferry_remote_spawned, _, _, _} = Reply, S) ->
    remote_spawned(Reply, S),
    {noreply, S};
handle_info({ferry_command, Port, Frame}, #state{port = Port} = S) ->
    %% A remote handler's command (ferry_remote); one for a port since
    %% replaced falls to the last clause.
    command(Port, Frame),
    {noreply, S};
handle_info({ferry_deadline, Id, Pid, Pause}, S) ->
    %% A handler waiting for Rust to write its request body to a file: the
    %% port guards that wait (min_body_rate), so its deadline is paused.
    case entry(Id) of
        {Pid, _, timeout} when Pause =:= pause -> update(Id, {Pid, infinity, timeout});
        {Pid, _, timeout} -> update(Id, {Pid, deadline(S), timeout});
        _ -> ok
    end,
    {noreply, S};
handle_info(sweep, S) ->
    sweep(S),
    erlang:send_after(?SWEEP_MS, self(), sweep),
    {noreply, S};
handle_info({Port, {exit_status, Status}}, #state{port = Port} = S) ->
    {noreply, port_exit({exit_status, Status}, S)};
handle_info({'EXIT', Port, Reason}, #state{port = Port} = S) ->
    {noreply, port_exit(closed_why(Port, Reason), S)};
handle_info(reopen, #state{phase = backoff} = S) ->
    {noreply, reopen(S)};
handle_info({start_timeout, Port}, #state{port = Port, phase = starting} = S) ->
    catch erlang:port_close(Port),
    {noreply, port_exit(start_timeout, S)};
handle_info({info_timeout, From}, #state{stats_waiters = Waiters} = S) ->
    case lists:member(From, Waiters) of
        true ->
            gen_server:reply(From, info_map(S, #{})),
            {noreply, S#state{stats_waiters = lists:delete(From, Waiters)}};
        false ->
            {noreply, S}
    end;
handle_info({heartbeat, Port}, #state{port = Port, phase = serving} = S) ->
    {noreply, heartbeat(S)};
handle_info(_Stale, S) ->
    %% Events of a port already gone, EXITs of the ports themselves,
    %% timers of an earlier phase.
    {noreply, S}.

%% Stopping drains when it is an orderly stop; a crash just closes the port
%% (the Rust process sees EOF and exits).
terminate(Reason, #state{port = Port} = S) ->
    Orderly = Reason =:= normal orelse Reason =:= shutdown
        orelse (is_tuple(Reason) andalso element(1, Reason) =:= shutdown),
    case {Orderly, is_port(Port)} of
        {true, true} -> drain(S);
        {false, true} -> catch erlang:port_close(Port);
        {_, false} -> ok
    end,
    kill_handlers(),
    %% Stopped on purpose: forget the registration (and the bound port, so
    %% a new listener of this name chooses again). After a crash they stay,
    %% for the restarted shard to bind the same port.
    Orderly andalso forget(S).

forget(#state{listener = Listener, shard = Shard}) ->
    catch ets:delete_object(?REGISTRY, {{Listener, Shard}, self()}),
    catch ferry_ws:unregister_port(Listener, Shard),
    Shard =:= 1 andalso (catch ets:delete(?REGISTRY, {Listener, bound})),
    ok.

%%% Events from the port

event({request, Id, Req}, S) ->
    request(Id, Req, S);
event({body, Id, _} = Event, S) -> _ = forward(Id, Event), S;
event({body_end, Id, _} = Event, S) -> _ = forward(Id, Event), S;
event({stream_credit, Id, _} = Event, S) -> _ = forward(Id, Event), S;
event({body_file, Id, Info} = Event, S) ->
    %% A body written to a file for a handler that is gone (killed while
    %% Rust wrote it): nobody will use or remove the file.
    _ = case entry(Id) of
            {Pid, _, timeout} -> Pid ! Event;
            _ -> orphan_file(Info)
        end,
    S;
event({ws_open, Id, _} = Event, S) -> _ = forward(Id, Event), S;
event({ws_in, Id, _, _} = Event, S) -> _ = forward(Id, Event), S;
event({ws_closed, Id, _, _, _} = Event, S) -> ws_finished(Id, Event), S;
event({closed, Id, _} = Event, S) ->
    %% Told first, so a handler waiting in ferry_req ends itself; one busy
    %% elsewhere is stopped at the next sweep but one.
    case entry(Id) of
        {Pid, _, timeout} ->
            Pid ! Event,
            update(Id, {Pid, now_ms() + ?SWEEP_MS, closed});
        {_, _, websocket} -> ws_finished(Id, Event);
        _ -> ok
    end,
    S;
event({sent, Id, _} = Event, S) -> _ = forward(Id, Event), S;
event({stats, Stats}, #state{stats_waiters = Waiters} = S) ->
    [gen_server:reply(From, info_map(S, Stats)) || From <- Waiters],
    S#state{stats_waiters = [], stats_sent_at = undefined};
event({tls_reloaded, Result}, #state{tls_waiters = [From | Rest]} = S) ->
    gen_server:reply(From, Result),
    S#state{tls_waiters = Rest};
event({log, Level, Message}, S) ->
    log_from_port(Level, Message, S),
    S;
event({protocol_error, Id, Message}, S) ->
    Request = case entry(Id) of
                  {Pid, _, _} -> request_context(Pid);
                  undefined -> #{}
              end,
    report(error, Request#{what => protocol_error, id => Id, message => Message}, S),
    S;
event(drained, S) ->
    S;
event({publish_credit, N, Writes}, #state{fanout = Window} = S)
  when is_integer(N), N > 0, is_integer(Writes), Writes >= 0, Window =/= undefined ->
    S#state{fanout_waiters = ferry_fanout:credit(Window, N, Writes, S#state.fanout_waiters)};
event({ready, Info}, #state{phase = starting} = S) ->
    report(notice, #{what => port_restarted, os_pid => maps:get(os_pid, Info, undefined),
                     restarts => S#state.restarts}, S),
    ready(Info, S);
event({listen_error, {Kind, Message}}, S) ->
    report(error, #{what => listen_error, kind => Kind, message => Message}, S),
    S;
event(Other, S) ->
    report(error, #{what => unexpected_frame, frame => Other}, S),
    S.

%% Req is the request map, or the whole frame for the handler to decode.
request(Id, Req, #state{ctx = Ctx, requests = N} = S) ->
    Pid = ferry_handler:start_link(Ctx#ferry_ctx{id = Id}, Req),
    put(Id, {Pid, deadline(S), timeout}),
    put(Pid, Id),
    S#state{requests = N + 1}.

orphan_file(#{path := Path}) when is_binary(Path) -> _ = file:delete(Path), ok;
orphan_file(_) -> ok.

forward(Id, Event) ->
    case entry(Id) of
        {Pid, _, _} -> Pid ! Event;
        undefined -> ok
    end.

%% Rust's own log lines, as ferry's reports at their level.
log_from_port(Level, Message, S) ->
    case lists:member(Level, [debug, info, notice, warning, error]) of
        true -> report(Level, #{what => port_log, message => Message}, S);
        false -> report(warning, #{what => port_log, message => Message, level => Level}, S)
    end.

deadline(#state{opts = #{request_timeout := infinity}}) -> infinity;
deadline(#state{opts = #{request_timeout := Ms}}) -> now_ms() + Ms.

now_ms() -> erlang:monotonic_time(millisecond).

%%% Handlers

%% A handler that ended without answering (killed, or exited by hand) has
%% its client answered 500 here; crashes it caught itself are answered by
%% ferry_handler already, and Rust ignores an abort of a finished id.
handler_exit(Pid, Reason, S) ->
    case take(Pid) of
        undefined ->
            ok;
        {Id, {_, _, What}} ->
            Streamed = erase({remote_streaming, Id}),
            case {Reason, What} of
                {normal, _} -> ok;
                {noconnection, timeout} ->
                    remote_lost(Id, #{pid => Pid, node => node(Pid)}, Streamed, S);
                {_, timeout} ->
                    command(S#state.port, ferry_protocol:abort(Id)),
                    report(error, #{what => handler_exit, id => Id, reason => Reason,
                                    pid => Pid}, S);
                {_, websocket} -> ws_exit(Id, Reason, S);
                _ -> ok
            end
    end.

%% The connection is over (ws_closed, or closed before the upgrade was
%% written): its process runs terminate/3 and ends by itself.
ws_finished(Id, Event) ->
    case entry(Id) of
        {Pid, _, _} ->
            Pid ! Event,
            update(Id, {Pid, infinity, finished});
        undefined ->
            ok
    end.

%% A WebSocket process that ended without closing its connection (killed,
%% or an exit from a link) leaves it to be closed here.
ws_exit(Id, Reason, S) ->
    Code = case Reason of
               shutdown -> 1001;
               {shutdown, _} -> 1001;
               _ -> 1011
           end,
    command(S#state.port, ferry_protocol:ws_send(Id, [{close, Code, <<>>}])),
    Code =:= 1011 andalso report(error, #{what => websocket_exit, id => Id, reason => Reason}, S).

%% Past its deadline a handler's client gets 503 and the handler is killed;
%% a handler whose client went away and who did not end by itself is killed.
sweep(#state{port = Port} = S) ->
    Now = now_ms(),
    [case What of
         timeout ->
             command(Port, ferry_protocol:respond(Id, 503, [], <<"Service Unavailable\n">>)),
             #{request_timeout := Ms} = S#state.opts,
             report(error, (request_context(Pid))#{what => request_timeout, id => Id, pid => Pid,
                                                  timeout_ms => Ms}, S),
             kill_handler(Id, Pid);
         closed ->
             kill_handler(Id, Pid)
     end
     || {Id, {Pid, When, What}} <- get(), is_integer(Id), When =< Now],
    ok.

kill_handler(Id, Pid) ->
    update(Id, {Pid, infinity, dead}),
    exit(Pid, kill).

%% What a live handler's reports say about its request (method, path,
%% handler: ferry_handler keeps them in its dictionary), for the reports
%% about it made here. Read only when something went wrong: the request
%% path pays nothing for it.
request_context(Pid) when node(Pid) =/= node() ->
    #{node => node(Pid)};
request_context(Pid) ->
    case erlang:process_info(Pid, dictionary) of
        {dictionary, Dict} ->
            case lists:keyfind(?REQUEST_KEY, 1, Dict) of
                {_, Context} when is_map(Context) -> Context;
                false -> #{}
            end;
        undefined ->
            #{}
    end.

%% The port is gone: its requests are lost, their handlers are stopped.
%% Their EXITs come later and find no entry.
kill_handlers() ->
    [begin erase(Id), erase(Pid), erase({remote_streaming, Id}), exit(Pid, kill) end
     || {Id, {Pid, _, _}} <- get(), is_integer(Id)],
    Lasting = lasting(),
    ets:foldl(fun({Id, {Pid, _, _}}, ok) when is_integer(Id) ->
                      _ = erase({remote_streaming, Id}),
                      exit(Pid, kill),
                      ok;
                 (_, ok) -> ok
              end, ok, Lasting),
    true = ets:delete_all_objects(Lasting),
    ok.

%%% Handlers on other nodes (ferry_remote, docs/CLUSTER.md): the request's
%%% local process hands it over, and this process spawns its handler on an
%%% application node, linked (spawn_request/5: no separate link signal,
%%% and no window in which a quick handler ends unlinked). From the spawn
%%% reply on, that process is the request's handler here as a local one
%%% would be (events forwarded, deadline kept); its commands come as
%%% `ferry_command'. Until the reply, the local process's pid (it has
%%% ended) stands in: the handler has asked for nothing yet, so nothing is
%%% forwarded that it would miss.

remote_hand_over({ferry_remote, Id, Local, Node, Req, Group}) ->
    case get(Id) of
        {Local, _, timeout} ->
            erase(Local),
            ReqId = erlang:spawn_request(Node, ferry_remote, run, [Req, Group],
                                         [link, {reply_tag, ferry_remote_spawned}]),
            put({remote_spawn, ReqId}, {Id, Local, Node});
        _ ->
            %% The client left (or the deadline passed) before the hand-over.
            ok
    end.

%% The spawn reply comes before any signal of the new process (its EXIT).
remote_spawned({ferry_remote_spawned, ReqId, Result, PidOrReason}, S) ->
    case erase({remote_spawn, ReqId}) of
        {Id, Local, Node} ->
            case {get(Id), Result} of
                {{Local, When, timeout}, ok} ->
                    put(Id, {PidOrReason, When, timeout}),
                    put(PidOrReason, Id);
                {{Local, _, timeout}, error} ->
                    erase(Id),
                    remote_lost(Id, #{node => Node, reason => PidOrReason}, undefined, S);
                {{Local, _, _}, _} ->
                    %% The client left, or the deadline passed (answered
                    %% 503), while the spawn was on its way.
                    erase(Id),
                    Result =:= ok andalso exit(PidOrReason, kill);
                {_, ok} ->
                    %% The port died meanwhile: its requests are lost.
                    exit(PidOrReason, kill);
                {_, error} ->
                    ok
            end;
        undefined ->
            ok
    end,
    ok.

%% A remote response that began cannot become a 502: remember it.
remote_streaming(Id, Pid) when node(Pid) =/= node() -> put({remote_streaming, Id}, true);
remote_streaming(_Id, _Pid) -> ok.

%% The node of a remote handler went down or was cut off: 502 at once, or
%% the connection closed if its response had begun.
remote_lost(Id, Who, Streamed, S) ->
    Frame = case Streamed of
                true -> ferry_protocol:abort(Id);
                undefined -> ferry_protocol:respond(Id, 502, [{<<"content-type">>, <<"text/plain">>}],
                                                    <<"Bad Gateway: the handler's node is gone\n">>)
            end,
    command(S#state.port, Frame),
    report(error, Who#{what => remote_handler_lost, id => Id}, S).

%%% The handlers' table: Id => {Pid, When, What} and Pid => Id. An entry
%%% with a deadline (When in ms) is in the process dictionary, the
%%% cheapest place for what each request touches twice, and the sweep
%%% walks it. An entry without one (When = infinity: an upgraded
%%% WebSocket, a stream, a paused body wait) may stay for hours: it is
%%% in a private ETS table instead, which the sweep never walks (10,000
%%% idle WebSockets in the dictionary cost the sweep 12 ms of CPU a second)
%%% and which costs no heap: kept in a map, those entries left the owner's
%%% old heap ~500 B a connection of garbage after a burst of upgrades.

entry(Id) ->
    case get(Id) of
        undefined ->
            case ets:lookup(lasting(), Id) of
                [{_, Entry}] -> Entry;
                [] -> undefined
            end;
        Entry ->
            Entry
    end.

%% A new entry for a handler already in the table, in the store its
%% deadline calls for.
update(Id, {Pid, infinity, _} = Entry) ->
    _ = erase(Id) =/= undefined andalso erase(Pid),
    true = ets:insert(lasting(), [{Id, Entry}, {Pid, Id}]);
update(Id, {Pid, _, _} = Entry) ->
    Lasting = lasting(),
    case ets:member(Lasting, Id) of
        true ->
            true = ets:delete(Lasting, Id),
            true = ets:delete(Lasting, Pid),
            put(Pid, Id);
        false ->
            ok
    end,
    put(Id, Entry).

%% Removes handler Pid from the table: `{Id, Entry}', or undefined.
take(Pid) ->
    case erase(Pid) of
        undefined ->
            Lasting = lasting(),
            case ets:take(Lasting, Pid) of
                [{_, Id}] ->
                    [{_, Entry}] = ets:take(Lasting, Id),
                    {Id, Entry};
                [] ->
                    undefined
            end;
        Id ->
            {Id, erase(Id)}
    end.

%% The table, made on first use: it belongs to this process and goes
%% with it.
lasting() ->
    case get(?LASTING) of
        undefined ->
            Lasting = ets:new(ferry_lasting, [set, private]),
            put(?LASTING, Lasting),
            Lasting;
        Lasting ->
            Lasting
    end.

%%% Port life cycle

open(#state{opts = #{binary := Binary}, listen = Listen} = S) ->
    try open_port({spawn_executable, Binary},
                  [{packet, 4}, binary, exit_status, use_stdio, {args, []}]) of
        Port ->
            start_writer(Port),
            command(Port, ferry_protocol:listen(Listen)),
            {ok, S#state{port = Port, phase = starting}}
    catch error:Reason ->
            {error, {spawn_failed, Binary, Reason}}
    end.

%% Start-up waits here, before anything else, so start_listener returns
%% with the port listening (or with the reason it is not).
await_ready(#state{port = Port} = S, Deadline) ->
    receive
        {Port, {data, Frame}} ->
            case ferry_protocol:decode(Frame) of
                {ready, Info} ->
                    {ok, ready(Info, S)};
                {listen_error, {bad_option, Message}} ->
                    Error = listen_error(bad_option, Message),
                    {error, Error, refused_option(Error, Message, S#state.listen)};
                {listen_error, {Kind, Message}} ->
                    {error, listen_error(Kind, Message), ""};
                {log, Level, Message} ->
                    log_from_port(Level, Message, S),
                    await_ready(S, Deadline);
                Other ->
                    {error, {unexpected_frame, Other}, ""}
            end;
        {Port, {exit_status, Status}} ->
            {error, {port_exited, Status}, ferry_log:port_exit({exit_status, Status})}
    after max(0, Deadline - now_ms()) ->
            {error, start_timeout, ""}
    end.

%% A refused option's message is <<"key: why">> (docs/PROTOCOL.md).
listen_error(bad_option, Message) ->
    [Name | _] = binary:split(Message, <<": ">>),
    case [K || K <- ferry_opts:rust_keys(), atom_to_binary(K) =:= Name] of
        [Key] -> {bad_option, Key};
        [] -> {bad_option, Name}
    end;
listen_error(Kind, Message) ->
    {listen_error, Kind, Message}.

%% The line for a refused option, worded as ferry_opts:explain/2 words the
%% ones it refuses itself: the value given, and what it must be.
refused_option({bad_option, Key}, Message, Listen) when is_map_key(Key, Listen) ->
    [_, Why] = case binary:split(Message, <<": ">>) of
                   [_, _] = Split -> Split;
                   [_] -> [Message, Message]
               end,
    io_lib:format("option ~0tp => ~0tP ~ts", [Key, maps:get(Key, Listen), 20, Why]);
refused_option(_, Message, _) ->
    Message.

ready(#{port := Bound, os_pid := OsPid} = Info, #state{listen = Listen, port = Port} = S) ->
    heartbeat_after(S),
    S#state.shard =:= 1 andalso
        ets:insert(?REGISTRY, {{S#state.listener, bound}, parent(), Bound}),
    SendWindow = window(send_window, Info, Listen),
    MaxFrame = max_frame(Info, Listen),
    #{publish_window := PublishWindow} = S#state.opts,
    Fanout = ferry_fanout:new(self(), PublishWindow),
    ferry_ws:register_port(S#state.listener, S#state.shard, Port, MaxFrame, Fanout),
    Ctx = #ferry_ctx{port = Port, owner = self(), listener = S#state.listener, os_pid = OsPid,
                     send_window = SendWindow,
                     body_window = window(body_window, Info, Listen),
                     max_frame = MaxFrame,
                     whole_max = max(1, min(SendWindow, MaxFrame div 2)),
                     fanout = Fanout},
    ferry_lifecycle:port_start(S#state.listener, S#state.shard, OsPid, S#state.restarts),
    S#state{phase = serving, os_pid = OsPid, listen = Listen#{port => Bound}, ctx = Ctx,
            started_at = now_ms(), ready = Info, stats_sent_at = undefined,
            input_seen = 0, progress_at = now_ms(), fanout = Fanout}.

%%% Heartbeat: a Rust process that is stopped (kill -STOP) or stuck keeps
%%% its port open and its socket bound while serving nothing; only its
%%% silence tells. It is judged by progress, never by one answer's
%%% latency: a `stats' request may wait behind seconds of fan-out work in
%%% the pipe, and a process that keeps writing to the BEAM meanwhile
%%% (events, publish_credit) is alive. The heartbeat looks every tenth of
%%% heartbeat_timeout (at most every 500 ms) at the bytes read from the
%%% port, and sends a `stats' request every half heartbeat_timeout (an
%%% idle process writes only its answer); no byte from the port for
%%% heartbeat_timeout while a request is unanswered means hung: the
%%% process is killed, and its exit restarts it as any other.

heartbeat_after(#state{opts = #{heartbeat_timeout := infinity}}) ->
    ok;
heartbeat_after(#state{port = Port, opts = #{heartbeat_timeout := Ms}}) ->
    _ = erlang:send_after(max(10, min(Ms div 10, 500)), self(), {heartbeat, Port}),
    ok.

heartbeat(#state{port = Port, opts = #{heartbeat_timeout := Ms}} = S0) ->
    heartbeat_after(S0),
    Now = now_ms(),
    S = case erlang:port_info(Port, input) of
            {input, In} when In =/= S0#state.input_seen ->
                S0#state{input_seen = In, progress_at = Now};
            _ ->
                S0
        end,
    case S#state.stats_sent_at of
        undefined when Now - S#state.heartbeat_asked_at >= Ms div 2 ->
            ask_stats(S#state{heartbeat_asked_at = Now});
        undefined -> S;
        _ when Now - S#state.progress_at >= Ms -> answered_or_hung(S);
        _ -> S
    end.

%% A mailbox long enough to hold the answer behind the heartbeat is no
%% hang of Rust's: look for it before killing anything.
answered_or_hung(#state{port = Port, os_pid = OsPid, opts = #{heartbeat_timeout := Ms}} = S) ->
    receive
        {Port, {data, <<131, 104, 2, 119, 5, "stats", _/binary>> = Frame}} ->
            event(ferry_protocol:decode(Frame), S)
    after 0 ->
            report(error, #{what => port_hung, os_pid => OsPid, timeout_ms => Ms}, S),
            _ = os:cmd("kill -KILL " ++ integer_to_list(OsPid)),
            %% Its exit comes next and restarts it.
            S#state{stats_sent_at = undefined, hung_kill = OsPid}
    end.

ask_stats(#state{stats_sent_at = undefined, port = Port} = S) ->
    command(Port, ferry_protocol:stats()),
    S#state{stats_sent_at = now_ms()};
ask_stats(S) ->
    S.

%% The listener supervisor; the same for every incarnation of this shard.
parent() -> hd(get('$ancestors')).

%% A window as `ready' says it; from a port that does not say it, one no
%% larger than the user's, which is always safe.
window(Key, Info, Listen) ->
    case maps:get(Key, Info, undefined) of
        W when is_integer(W), W > 0 -> W;
        _ -> min(maps:get(Key, Listen, infinity), ferry_opts:req_default(Key))
    end.

%% From a port whose `ready' does not say it: the listener's own max_frame,
%% which Rust applies, or Rust's default.
max_frame(Info, Listen) ->
    case maps:get(max_frame, Info, undefined) of
        M when is_integer(M), M > 0 -> M;
        _ -> maps:get(max_frame, Listen, ferry_opts:req_default(max_frame))
    end.

%% A port closed by a failed write (epipe: the Rust process exited first)
%% may still have its exit status on the way; it says why the process
%% exited (EXIT_BAD_FRAME, a panic...), so it is worth a short wait. The
%% spawn driver drops a status that comes after the port closed, so often
%% there is none.
closed_why(_Port, normal) ->
    {port_closed, normal};
closed_why(Port, Reason) ->
    receive {Port, {exit_status, Status}} -> {exit_status, Status}
    after ?EXIT_STATUS_WAIT_MS -> {port_closed, Reason}
    end.

port_exit(Why0, #state{phase = draining} = S) ->
    Why = exit_cause(Why0, S),
    report(case Why of {exit_status, 0} -> notice; _ -> warning end,
           #{what => port_drained, exit => Why, os_pid => S#state.os_pid}, S),
    ferry_lifecycle:port_exit(S#state.listener, S#state.shard, S#state.os_pid, Why, undefined),
    kill_handlers(),
    S#state{port = undefined, os_pid = undefined, phase = drained,
            fanout = undefined, fanout_waiters = ferry_fanout:release_all(S#state.fanout_waiters)};
port_exit(Why0, #state{restarts = Restarts} = S0) ->
    Why = exit_cause(Why0, S0),
    S = S0#state{tls_waiters = [], fanout_waiters = ferry_fanout:release_all(S0#state.fanout_waiters)},
    kill_handlers(),
    [gen_server:reply(From, info_map(S, #{})) || From <- S#state.stats_waiters],
    [gen_server:reply(From, {error, port_down}) || From <- S0#state.tls_waiters],
    Failures = case S#state.phase =:= serving andalso now_ms() - S#state.started_at >= ?STABLE_MS of
                   true -> 0;
                   false -> S#state.failures
               end,
    Delay = backoff(Failures, S),
    report(error, #{what => port_down, reason => Why, os_pid => S#state.os_pid,
                    restart => Restarts + 1, delay_ms => Delay}, S),
    ferry_lifecycle:port_exit(S#state.listener, S#state.shard, S#state.os_pid, Why,
                              {Restarts + 1, Delay}),
    erlang:send_after(Delay, self(), reopen),
    S#state{port = undefined, os_pid = undefined, phase = backoff, stats_waiters = [],
            stats_sent_at = undefined, failures = Failures + 1, restarts = Restarts + 1,
            fanout = undefined, hung_kill = undefined}.

%% The heartbeat killed this process: say so, with what the port said.
exit_cause(Why, #state{hung_kill = OsPid, os_pid = OsPid}) when OsPid =/= undefined ->
    {hung, Why};
exit_cause(Why, _S) ->
    Why.

%% A report about a request names the Rust process that has it: ids
%% restart at 0 with each one.
report(Level, #{id := _} = Report, #state{os_pid = OsPid} = S) when not is_map_key(os_pid, Report) ->
    report(Level, Report#{os_pid => OsPid}, S);
report(Level, Report, #state{listener = Listener, shard = Shard}) ->
    ferry_log:report(Level, Report#{listener => Listener, shard => Shard}).

backoff(Failures, #state{opts = #{restart_backoff := {Min, Max}}}) ->
    min(Max, Min bsl min(Failures, 20)).

reopen(#state{opts = #{start_timeout := Timeout}} = S) ->
    case open(S) of
        {ok, #state{port = Port} = S1} ->
            erlang:send_after(Timeout, self(), {start_timeout, Port}),
            S1;
        {error, Reason} ->
            port_exit(Reason, S#state{phase = backoff})
    end.

begin_draining(#state{port = Port, phase = serving, opts = #{drain_timeout := T}} = S) ->
    command(Port, ferry_protocol:drain(T)),
    S#state{phase = draining};
begin_draining(S) ->
    S.

%% Requests in flight keep being served while the port drains: events are
%% still routed to their handlers until the port exits.
drain(S0) ->
    case begin_draining(S0) of
        #state{phase = draining, opts = #{drain_timeout := T}} = S ->
            drain_loop(S, now_ms() + T + 1000);
        #state{port = Port} ->
            catch erlang:port_close(Port),
            ok
    end.

drain_loop(#state{port = undefined}, _Deadline) ->
    ok;
drain_loop(#state{port = Port} = S, Deadline) ->
    receive
        {Port, {data, Frame}} ->
            drain_loop(element(2, handle_info({Port, {data, Frame}}, S)), Deadline);
        {'EXIT', Pid, Reason} when is_pid(Pid) ->
            handler_exit(Pid, Reason, S),
            drain_loop(S, Deadline);
        {Tag, _, _} = Msg when Tag =:= ferry_streaming; Tag =:= ferry_progress;
                               Tag =:= ferry_websocket; Tag =:= ferry_command ->
            drain_loop(element(2, handle_info(Msg, S)), Deadline);
        {ferry_remote, _, _, _, _, _} = Msg ->
            drain_loop(element(2, handle_info(Msg, S)), Deadline);
        {ferry_remote_spawned, _, _, _} = Msg ->
            drain_loop(element(2, handle_info(Msg, S)), Deadline);
        {Port, {exit_status, Status}} ->
            drain_loop(port_exit({exit_status, Status}, S#state{phase = draining}), Deadline);
        {'EXIT', Port, Reason} ->
            drain_loop(port_exit(closed_why(Port, Reason), S#state{phase = draining}), Deadline)
    after max(0, Deadline - now_ms()) ->
            catch erlang:port_close(Port),
            ok
    end.

info_map(#state{} = S, PortStats) ->
    PortStats#{restarts => S#state.restarts,
               requests => S#state.requests,
               connections => maps:get(connections, PortStats, 0),
               os_pid => S#state.os_pid,
               port => maps:get(port, S#state.listen, 0),
               phase => S#state.phase}.

%% This process never writes to its port itself: a write to a busy port
%% suspends the writer until the Rust process reads, and a stopped Rust
%% process would then stop its own owner (no heartbeat, no restart, no
%% info/1). Its commands go through a writer process of the port's, in
%% order; the writer ends when the port does.
command(undefined, _Frame) ->
    ok;
command(Port, Frame) ->
    case get({?WRITER, Port}) of
        undefined -> ok;   % a port already gone
        Writer -> Writer ! {write, Frame}, ok
    end.

start_writer(Port) ->
    _ = [erase(Key) || {{?WRITER, _} = Key, _} <- get()],
    put({?WRITER, Port}, spawn(fun() -> writer(Port, erlang:monitor(port, Port)) end)),
    ok.

writer(Port, Ref) ->
    receive
        {write, Frame} ->
            try erlang:port_command(Port, Frame)
            catch error:badarg -> ok
            end,
            writer(Port, Ref);
        {'DOWN', Ref, port, Port, _} ->
            ok
    end.
