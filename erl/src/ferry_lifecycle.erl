%% @doc The life of a request, a WebSocket and a Rust process, as events
%% (ferry_telemetry), counters (ferry_metrics) and access log lines
%% (ferry_access_log). ferry_handler, ferry_req, ferry_websocket and
%% ferry_port call it at the points where things happen; this module
%% decides what that costs.
%%
%% A request's figures live in its handler process's dictionary: the
%% request, when it started, the status and body bytes handed to the port.
%% At its end the counters are always updated (a handful of lock-free
%% additions); the event's maps are built only when someone listens, and
%% the access log line only when the listener asks for one.
%%
%% With `sent_events' (which `access_log' turns on) Rust says when the last
%% byte of a response was written (docs/PROTOCOL.md `sent'): while someone
%% listens, the handler process waits for that before `stop', which then
%% carries Rust's byte count and timing. Without it, `stop' is emitted when
%% the response was handed to the port.
-module(ferry_lifecycle).

-include("ferry_ctx.hrl").

%% Listener set-up (ferry_listener_sup, ferry).
-export([setup/2, forget/1, metrics/1]).
%% The request process (ferry_handler, ferry_req, ferry_websocket, the
%% Elixir router).
-export([request_start/2, request_stop/1, responded/2, body_out/1, body_in/1, closed/1,
         exception/3, websocket_upgrade/1, websocket_close/2]).
%% The port owner (ferry_port).
-export([port_start/4, port_exit/5]).
%% Shared with tests and the access log.
-export([request_id/2]).

-define(CONF(Listener), {?MODULE, Listener}).
%% Keys of the handler process's dictionary.
-define(REQ, '$ferry_obs_req').          % the request map as it came
-define(T0, '$ferry_obs_t0').            % monotonic time at its start
-define(STATUS, '$ferry_obs_status').    % status handed to the port
-define(OUT, '$ferry_obs_out').          % response body bytes handed over
-define(IN, '$ferry_obs_in').            % request body bytes received
-define(ERROR, '$ferry_obs_error').      % {closed, Reason} | {exception, K, R, S}
-define(DONE, '$ferry_obs_done').        % stop already emitted (WebSocket)
-define(WS_T0, '$ferry_obs_ws_t0').

-define(START, [ferry, request, start]).
-define(STOP, [ferry, request, stop]).
-define(EXCEPTION, [ferry, request, exception]).

%% How long a finished handler waits for Rust's `sent' before it lifts its
%% request_timeout (ferry_port's sweep would answer 503 to a finished
%% request), and how long at most in all: Rust ends a slow client first
%% (send_timeout), this only catches a hang.
-define(SENT_QUICK_MS, 50).

%%% Listener set-up

%% @doc Called as a listener starts: new counters (they count over its
%% life, as `restarts' does) and what to do per request.
-spec setup(atom(), ferry_opts:validated()) -> ok.
setup(Listener, #{access_log := AccessLog, listen := Listen}) ->
    persistent_term:put(?CONF(Listener),
                        {ferry_metrics:new(), AccessLog, maps:get(sent_events, Listen, false)}).

-spec forget(atom()) -> ok.
forget(Listener) ->
    _ = persistent_term:erase(?CONF(Listener)),
    ok.

%% @doc The listener's counters, `undefined' for a listener never set up.
-spec metrics(atom()) -> ferry_metrics:ref() | undefined.
metrics(Listener) ->
    case persistent_term:get(?CONF(Listener), undefined) of
        {Ref, _, _} -> Ref;
        undefined -> undefined
    end.

%%% The request

-spec request_start(#ferry_ctx{}, map()) -> ok.
request_start(Ctx, Req) ->
    T0 = erlang:monotonic_time(),
    put(?T0, T0),
    put(?REQ, Req),
    put(?IN, case Req of
                 #{body := Body} when is_binary(Body) -> byte_size(Body);
                 _ -> 0
             end),
    case ferry_telemetry:listening(?START) of
        false -> ok;
        true -> ferry_telemetry:execute(?START, #{system_time => erlang:system_time(),
                                                  monotonic_time => T0},
                                        metadata(Ctx, Req))
    end.

%% @doc A response (or its head) went to the port: its status and the body
%% bytes known so far.
-spec responded(100..599, non_neg_integer()) -> ok.
responded(Status, Bytes) ->
    put(?STATUS, Status),
    put(?OUT, Bytes),
    ok.

%% @doc More bytes of a streamed response went to the port.
-spec body_out(non_neg_integer()) -> ok.
body_out(Bytes) -> add(?OUT, Bytes).

%% @doc Bytes of a streamed request body arrived.
-spec body_in(non_neg_integer()) -> ok.
body_in(Bytes) -> add(?IN, Bytes).

add(Key, Bytes) ->
    case get(Key) of
        undefined -> put(Key, Bytes);
        N -> put(Key, N + Bytes)
    end,
    ok.

%% @doc The request ended before its response did (`{closed, Id, Reason}').
-spec closed(atom()) -> ok.
closed(Reason) ->
    put(?ERROR, {closed, Reason}),
    ok.

%% @doc The handler raised: `exception' instead of `stop'.
-spec exception(error | exit | throw, term(), list()) -> ok.
exception(Kind, Reason, Stack) ->
    put(?ERROR, {exception, Kind, Reason, Stack}),
    ok.

%% @doc The handler process is done with its request (ferry_handler).
-spec request_stop(#ferry_ctx{}) -> ok.
request_stop(Ctx) ->
    case erase(?DONE) of
        true -> ok;
        undefined -> finish(Ctx, get(?ERROR))
    end.

finish(#ferry_ctx{listener = Listener} = Ctx, Error) ->
    {Metrics, AccessLog, SentEvents} = conf(Listener),
    Status = status(Error),
    Listening = case Error of
                    {exception, _, _, _} -> ferry_telemetry:listening(?EXCEPTION);
                    _ -> ferry_telemetry:listening(?STOP)
                end,
    %% Rust's `sent' is worth waiting for only for someone who reads it.
    {Sent, Error1} = case SentEvents andalso (Listening orelse AccessLog =/= false)
                         andalso Error =:= undefined andalso is_integer(Status) andalso Status >= 200 of
                         true -> await_sent(Ctx);
                         false -> {undefined, Error}
                     end,
    T1 = erlang:monotonic_time(),
    Duration = T1 - get(?T0),
    In = get(?IN),
    Out = case get(?OUT) of
              undefined -> 0;
              N -> N
          end,
    Wire = case Sent of
               #{bytes := B} when is_integer(B) -> B;
               _ -> Out
           end,
    ferry_metrics:request(Metrics, Status, Duration, In, Wire,
                          is_tuple(Error1) andalso element(1, Error1) =:= exception),
    %% The event's maps only for someone who reads them.
    case Listening orelse AccessLog =/= false of
        false ->
            ok;
        true ->
            Measurements = measurements(Status, Sent, #{duration => Duration, monotonic_time => T1,
                                                        req_body_bytes => In,
                                                        resp_body_bytes => Out}),
            emit_end(Ctx, Error1, Measurements, Listening, AccessLog)
    end.

measurements(Status, Sent, Measurements0) ->
    Measurements = with_status(Status, Measurements0),
    case Sent of
        #{bytes := Bytes, duration_us := Us} ->
            Measurements#{resp_bytes => Bytes,
                          sent_duration => erlang:convert_time_unit(Us, microsecond, native)};
        _ -> Measurements
    end.

emit_end(Ctx, Error, Measurements, Listening, AccessLog) ->
    Req = get(?REQ),
    Meta0 = (metadata(Ctx, Req))#{route => route(),
                                  status => maps:get(status, Measurements, undefined)},
    Meta = case Error of
               {closed, Reason} -> Meta0#{error => Reason};
               _ -> Meta0
           end,
    AccessLog =:= false orelse ferry_access_log:log(AccessLog, Req, Measurements, Meta),
    case {Listening, Error} of
        {false, _} ->
            ok;
        {true, {exception, Kind, Why, Stack}} ->
            ferry_telemetry:execute(?EXCEPTION, maps:with([duration, monotonic_time], Measurements),
                                    Meta#{kind => Kind, reason => Why, stacktrace => Stack});
        {true, _} ->
            ferry_telemetry:execute(?STOP, Measurements, Meta)
    end.

%% Measurements are numbers: no status when none was sent.
with_status(Status, Measurements) when is_integer(Status) -> Measurements#{status => Status};
with_status(_, Measurements) -> Measurements.

%% A crash is answered 500 (ferry_handler aborts, Rust answers) unless a
%% response had begun; a request the client left has the status it was
%% handed, if any.
status({exception, _, _, _}) ->
    case get(?STATUS) of
        undefined -> 500;
        S -> S
    end;
status(_) ->
    get(?STATUS).

%% Waits for Rust's word on the response: `sent', or `closed' when the
%% client went away first.
await_sent(#ferry_ctx{id = Id, owner = Owner}) ->
    receive
        {sent, Id, Info} -> {Info, undefined};
        {closed, Id, Reason} -> {undefined, {closed, Reason}}
    after ?SENT_QUICK_MS ->
            %% A slow client: no request_timeout for an answered request.
            Owner ! {ferry_streaming, Id, self()},
            receive
                {sent, Id, Info} -> {Info, undefined};
                {closed, Id, Reason} -> {undefined, {closed, Reason}}
            after 2 * ferry_opts:req_default(send_timeout) ->
                    {undefined, {closed, no_sent_event}}
            end
    end.

%% A listener stopped from its own supervisor keeps its entry; one whose
%% entry is gone (stop_listener) counts nothing more.
conf(Listener) ->
    persistent_term:get(?CONF(Listener), {none, false, false}).

%% What every request event says about its request.
metadata(Ctx, undefined) ->
    metadata(Ctx, #{});
metadata(#ferry_ctx{listener = Listener, id = Id, os_pid = OsPid}, Req) ->
    #{listener => Listener, request_id => request_id(OsPid, Id),
      method => maps:get(method, Req, undefined), path => maps:get(path, Req, undefined),
      peer => maps:get(peer, Req, undefined)}.

%% @doc As ferry_log names a request: the wire id, qualified by the os pid
%% of the Rust process (ids restart with each one).
-spec request_id(non_neg_integer() | undefined, non_neg_integer()) -> binary().
request_id(undefined, Id) -> integer_to_binary(Id);
request_id(OsPid, Id) -> <<(integer_to_binary(OsPid))/binary, $-, (integer_to_binary(Id))/binary>>.

%% The route's pattern: the Elixir router keeps its route in the process
%% dictionary ("GET /users/:id"); ferry_handler keeps the pattern of the
%% Erlang route it matched.
route() ->
    case get(ferry_route) of
        {_Router, Label} when is_binary(Label) ->
            case binary:split(Label, <<" ">>) of
                [_Method, Pattern] -> Pattern;
                _ -> Label
            end;
        _ ->
            get(?ROUTE_KEY)
    end.

%%% WebSocket

%% @doc The 101 is on its way: the request's `stop' (status 101) and
%% `[ferry, websocket, upgrade]'.
-spec websocket_upgrade(#ferry_ctx{}) -> ok.
websocket_upgrade(#ferry_ctx{listener = Listener} = Ctx) ->
    responded(101, 0),
    %% (A process that upgrades without having started a request, as
    %% ferry_websocket's unit tests do, has no request to end.)
    _ = get(?T0) =/= undefined andalso finish(Ctx, undefined),
    put(?DONE, true),
    T0 = erlang:monotonic_time(),
    put(?WS_T0, T0),
    {Metrics, _, _} = conf(Listener),
    ferry_metrics:websocket(Metrics, upgrade),
    Event = [ferry, websocket, upgrade],
    Req = get(?REQ),
    case ferry_telemetry:listening(Event) of
        false -> ok;
        true -> ferry_telemetry:execute(Event, #{system_time => erlang:system_time(),
                                                 monotonic_time => T0},
                                        (metadata(Ctx, Req))#{route => route()})
    end,
    %% The connection may live for hours: of the request, keep only what
    %% `close' says (an idle WebSocket's process is a few hundred words).
    _ = [erase(K) || K <- [?T0, ?STATUS, ?OUT, ?IN]],
    put(?REQ, maps:with([method, path, peer], ws_meta(Req))),
    ok.

ws_meta(Req) when is_map(Req) -> Req;
ws_meta(undefined) -> #{}.

%% @doc The WebSocket is over, for `Reason' (ferry_websocket's terminate
%% reason): `[ferry, websocket, close]' with how long it lived.
-spec websocket_close(#ferry_ctx{}, term()) -> ok.
websocket_close(#ferry_ctx{listener = Listener} = Ctx, Reason) ->
    {Metrics, _, _} = conf(Listener),
    ferry_metrics:websocket(Metrics, close),
    Event = [ferry, websocket, close],
    case ferry_telemetry:listening(Event) andalso get(?WS_T0) of
        false -> ok;
        undefined -> ok;
        T0 ->
            T1 = erlang:monotonic_time(),
            {Code, Cause} = close_code(Reason),
            ferry_telemetry:execute(Event, #{duration => T1 - T0, monotonic_time => T1},
                                    (metadata(Ctx, get(?REQ)))#{reason => Cause, code => Code})
    end.

%% The close code and who closed, from ferry_websocket's terminate reason.
close_code({remote, Code, _}) -> {Code, remote};
close_code({error, Code, _}) -> {Code, error};
close_code(stop) -> {1000, stop};
close_code(shutdown) -> {1001, shutdown};
close_code({crash, _, _, _}) -> {1011, crash};
close_code(_) -> {undefined, unknown}.

%%% The Rust process (events only: ferry_port counts restarts itself)

%% @doc A Rust process listens: the first, or one restarted.
-spec port_start(atom(), pos_integer(), non_neg_integer() | undefined, non_neg_integer()) -> ok.
port_start(Listener, Shard, OsPid, Restarts) ->
    port_event(start, #{system_time => erlang:system_time(), restarts => Restarts},
               #{listener => Listener, shard => Shard, os_pid => OsPid}).

%% @doc A Rust process ended (`Why' as in ferry_port's reports); `Delay'
%% the ms until it is restarted, `undefined' when it is not (a drain).
-spec port_exit(atom(), pos_integer(), non_neg_integer() | undefined, term(),
                {non_neg_integer(), non_neg_integer()} | undefined) -> ok.
port_exit(Listener, Shard, OsPid, Why, Restart) ->
    Meta = #{listener => Listener, shard => Shard, os_pid => OsPid, reason => Why},
    port_event(exit, #{system_time => erlang:system_time()}, Meta),
    case Restart of
        undefined -> ok;
        {Restarts, Delay} ->
            port_event(restart, #{restarts => Restarts, delay_ms => Delay}, Meta)
    end.

port_event(What, Measurements, Meta) ->
    Event = [ferry, port, What],
    case ferry_telemetry:listening(Event) of
        false -> ok;
        true -> ferry_telemetry:execute(Event, Measurements, Meta)
    end.
