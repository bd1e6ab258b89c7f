%% @doc A listener's counters: requests by status class, bytes, handler
%% crashes, WebSocket upgrades and closes, and a latency histogram with
%% fixed buckets. One `counters' array per listener, shared by its request
%% processes, which add to it without locks (`write_concurrency');
%% `read/1' sums it for `ferry:info/1' and `prometheus/1' renders it in the
%% Prometheus text exposition format (version 0.0.4), with the gauges and
%% counters `ferry:info/1' has from the port (open connections, restarts).
-module(ferry_metrics).

-export([new/0, request/6, websocket/2, read/1, bounds_us/0, prometheus/1]).
-export_type([ref/0]).

-opaque ref() :: counters:counters_ref().

%% Upper bounds of the latency buckets, in µs (then +Inf): a hello world
%% on loopback falls in the first few, a slow handler in the last.
-define(BOUNDS_US, {100, 250, 500, 1000, 2500, 5000, 10000, 25000, 50000, 100000, 250000,
                    500000, 1000000, 2500000, 5000000, 10000000}).
-define(N_BOUNDS, 16).

%% Indexes in the array (1 is free: requests are the sum of 2..7).
-define(NO_RESPONSE, 2).              % ended before any status was handed over
-define(CLASS(S), (2 + (S) div 100)). % 3..7: 1xx..5xx
-define(EXCEPTIONS, 8).
-define(BYTES_IN, 9).
-define(BYTES_OUT, 10).
-define(DURATION_SUM_US, 11).
-define(WS_UPGRADES, 12).
-define(WS_CLOSES, 13).
-define(BUCKET(I), (13 + (I))).      % 14..30, the last +Inf
-define(SIZE, (13 + ?N_BOUNDS + 1)).

-spec new() -> ref().
new() ->
    counters:new(?SIZE, [write_concurrency]).

%% @doc One request ended: its status (`undefined' when none was handed
%% over), duration (native units), body bytes in, bytes out, and whether
%% the handler crashed.
-spec request(ref() | none, 100..599 | undefined, integer(), non_neg_integer(),
              non_neg_integer(), boolean()) -> ok.
request(none, _Status, _Duration, _In, _Out, _Crashed) ->
    ok;
request(Ref, Status, Duration, In, Out, Crashed) ->
    Us = erlang:convert_time_unit(Duration, native, microsecond),
    counters:add(Ref, case Status of
                          S when is_integer(S), S >= 100, S =< 599 -> ?CLASS(S);
                          _ -> ?NO_RESPONSE
                      end, 1),
    In > 0 andalso counters:add(Ref, ?BYTES_IN, In),
    Out > 0 andalso counters:add(Ref, ?BYTES_OUT, Out),
    Crashed andalso counters:add(Ref, ?EXCEPTIONS, 1),
    counters:add(Ref, ?DURATION_SUM_US, max(0, Us)),
    counters:add(Ref, ?BUCKET(bucket(Us, 1)), 1).

bucket(_Us, I) when I > ?N_BOUNDS -> I;
bucket(Us, I) when Us =< element(I, ?BOUNDS_US) -> I;
bucket(Us, I) -> bucket(Us, I + 1).

-spec websocket(ref() | none, upgrade | close) -> ok.
websocket(none, _) -> ok;
websocket(Ref, upgrade) -> counters:add(Ref, ?WS_UPGRADES, 1);
websocket(Ref, close) -> counters:add(Ref, ?WS_CLOSES, 1).

-spec bounds_us() -> [pos_integer()].
bounds_us() -> tuple_to_list(?BOUNDS_US).

%% @doc The counters as a map. `duration' is the histogram: `buckets' are
%% cumulative (`le_us' the bucket's upper bound in µs, the last
%% `infinity'), as Prometheus has them.
-spec read(ref()) -> map().
read(Ref) ->
    Get = fun(I) -> counters:get(Ref, I) end,
    Counts = [Get(?BUCKET(I)) || I <- lists:seq(1, ?N_BOUNDS + 1)],
    Cumulative = tl(lists:reverse(lists:foldl(fun(C, [Sum | _] = Acc) -> [Sum + C | Acc] end,
                                              [0], Counts))),
    Bounds = bounds_us() ++ [infinity],
    Classes = [Get(I) || I <- [?NO_RESPONSE | [?CLASS(S) || S <- [100, 200, 300, 400, 500]]]],
    #{requests => lists:sum(Classes),
      status_classes => #{'1xx' => Get(?CLASS(100)), '2xx' => Get(?CLASS(200)),
                          '3xx' => Get(?CLASS(300)), '4xx' => Get(?CLASS(400)),
                          '5xx' => Get(?CLASS(500)), none => Get(?NO_RESPONSE)},
      exceptions => Get(?EXCEPTIONS),
      req_body_bytes => Get(?BYTES_IN),
      resp_bytes => Get(?BYTES_OUT),
      websocket_upgrades => Get(?WS_UPGRADES),
      websocket_closes => Get(?WS_CLOSES),
      duration => #{sum_us => Get(?DURATION_SUM_US), count => lists:last(Cumulative),
                    buckets => [#{le_us => B, count => C} || {B, C} <- lists:zip(Bounds, Cumulative)]}}.

%% @doc The listeners' metrics in the Prometheus text format, one family
%% after the other, each with a line per listener (label `listener').
%% Listeners not running are left out.
-spec prometheus([atom()]) -> iodata().
prometheus(Listeners) ->
    Infos = [{label(L), I} || L <- Listeners, I <- [info(L)], I =/= none],
    [family(F, Infos) || F <- families()].

info(Listener) ->
    try ferry:info(Listener)
    catch error:badarg -> none
    end.

families() ->
    [{"ferry_requests_total", counter,
      "Requests ended, by the class of the status they were answered with "
      "(none: the client left before any answer).",
      fun(#{metrics := #{status_classes := C}}) ->
              [{[{"status_class", atom_to_list(K)}], V} || {K, V} <- lists:sort(maps:to_list(C))]
      end},
     {"ferry_request_exceptions_total", counter, "Handlers that crashed.",
      fun(#{metrics := M}) -> [{[], maps:get(exceptions, M)}] end},
     {"ferry_request_duration_seconds", histogram,
      "Time from a request's arrival in its process to its response written "
      "(or handed to the Rust process, without sent_events).",
      fun histogram/1},
     {"ferry_request_body_bytes_total", counter, "Request body bytes read by handlers.",
      fun(#{metrics := M}) -> [{[], maps:get(req_body_bytes, M)}] end},
     {"ferry_response_bytes_total", counter,
      "Response bytes: as written by the Rust process (head included) with sent_events, "
      "else the body bytes handed to it.",
      fun(#{metrics := M}) -> [{[], maps:get(resp_bytes, M)}] end},
     {"ferry_connections", gauge, "Connections open now (0 while the Rust process restarts).",
      fun(I) -> [{[], maps:get(connections, I, 0)}] end},
     {"ferry_port_restarts_total", counter, "Restarts of the Rust process.",
      fun(I) -> [{[], maps:get(restarts, I, 0)}] end},
     {"ferry_websocket_upgrades_total", counter, "Requests upgraded to a WebSocket.",
      fun(#{metrics := M}) -> [{[], maps:get(websocket_upgrades, M)}] end},
     {"ferry_websockets", gauge, "WebSockets open now.",
      fun(#{metrics := M}) ->
              [{[], maps:get(websocket_upgrades, M) - maps:get(websocket_closes, M)}]
      end}].

histogram(#{metrics := #{duration := #{buckets := Buckets, sum_us := Sum, count := Count}}}) ->
    [{"_bucket", [{"le", le(B)}], C} || #{le_us := B, count := C} <- Buckets]
        ++ [{"_sum", [], Sum / 1000000}, {"_count", [], Count}].

le(infinity) -> "+Inf";
le(Us) ->
    %% Decimal, as client libraries write it ("0.00025", "2.5").
    Frac = string:trim(io_lib:format("~6..0b", [Us rem 1000000]), trailing, "0"),
    [integer_to_list(Us div 1000000), ".", case Frac of "" -> "0"; _ -> Frac end].

family({Name, Type, Help, Samples}, Infos) ->
    ["# HELP ", Name, " ", Help, "\n# TYPE ", Name, " ", atom_to_list(Type), "\n",
     [sample(Name, S, Listener) || {Listener, Info} <- Infos, S <- Samples(Info)]].

sample(Name, {Suffix, Labels, Value}, Listener) ->
    sample(Name ++ Suffix, {Labels, Value}, Listener);
sample(Name, {Labels, Value}, Listener) ->
    Pairs = [["listener=\"", Listener, "\""] | [[K, "=\"", V, "\""] || {K, V} <- Labels]],
    [Name, "{", lists:join(",", Pairs), "} ", value(Value), "\n"].

value(V) when is_integer(V) -> integer_to_list(V);
value(V) when is_float(V) -> float_text(V).

float_text(F) -> float_to_list(F, [short]).

%% A label value: backslash, double quote and line feed escaped.
label(Listener) ->
    Name = unicode:characters_to_binary(ferry_log:name(Listener)),
    << <<(case C of
              $\\ -> <<"\\\\">>;
              $" -> <<"\\\"">>;
              $\n -> <<"\\n">>;
              _ -> <<C>>
          end)/binary>> || <<C>> <= Name >>.
