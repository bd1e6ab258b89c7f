%% Observability (issue 12): the events of docs/ERLANG_API.md "Events"
%% with their names, measurements and metadata, for a plain request, a
%% streamed one, a crash, a client that leaves, a WebSocket and a killed
%% Rust process; stop's bytes against the bytes the client read; attach,
%% detach and the crashing handler; the access log; the counters of
%% ferry:info/1 and their Prometheus text, parsed here.
-module(ferry_telemetry_SUITE).

-include_lib("common_test/include/ct.hrl").
-include_lib("stdlib/include/assert.hrl").

-export([all/0, init_per_suite/1, end_per_suite/1, init_per_testcase/2, end_per_testcase/2]).
-export([plain_request/1, streamed_response/1, crashed_handler/1, client_leaves/1,
         port_kill/1, websocket/1, detach_stops_delivery/1, crashing_handler_is_detached/1,
         access_log/1, prometheus_agrees/1, not_found_has_no_route/1]).
-export([websocket_handle/2, websocket_info/2]).

-define(WAIT, 15000).
-define(REQUEST_EVENTS, [[ferry, request, start], [ferry, request, stop],
                         [ferry, request, exception]]).

all() ->
    [plain_request, streamed_response, crashed_handler, client_leaves, port_kill, websocket,
     detach_stops_delivery, crashing_handler_is_detached, access_log, prometheus_agrees,
     not_found_has_no_route].

init_per_suite(Config) -> ferry_test_lib:init_per_suite(Config).
end_per_suite(Config) -> ferry_test_lib:end_per_suite(Config).

init_per_testcase(_Case, Config) -> Config.

end_per_testcase(Case, _Config) ->
    [ferry_telemetry:detach(Id) || #{id := Id} <- ferry_telemetry:list_handlers()],
    ferry_test_lib:stop_capture(),
    _ = ferry:stop_listener(Case),
    ok.

routes() ->
    Self = self(),
    [{<<"GET">>, <<"/hello/:name">>,
      fun(Req) -> {200, [], [<<"hello ">>, ferry_req:binding(name, Req)]} end},
     {<<"GET">>, <<"/stream">>,
      fun(Req0) ->
              Req = ferry_req:stream_reply(200, [], Req0),
              _ = [ferry_req:stream_body(binary:copy(<<"x">>, 1000), nofin, Req)
                   || _ <- lists:seq(1, 5)],
              {done, ferry_req:stream_body(<<"end">>, fin, Req)}
      end},
     {<<"GET">>, <<"/crash">>, fun(_) -> error(on_purpose) end},
     {<<"POST">>, <<"/upload">>,
      fun(Req) ->
              {more, Part, Req1} = ferry_req:read_body(Req, #{length => 50}),
              Self ! {upload_read, byte_size(Part)},
              {ok, Rest, _} = ferry_req:read_full_body(Req1, 1000000),
              {200, [], integer_to_binary(byte_size(Part) + byte_size(Rest))}
      end},
     {<<"GET">>, <<"/ws">>, fun(_) -> {websocket, ?MODULE, #{}} end}].

%% A listener of the test's name; `sent_events' so stop has Rust's figures.
start(Name) -> start(Name, #{}).

start(Name, Opts) ->
    ferry_test_lib:start(Name, maps:merge(#{routes => routes(), sent_events => true}, Opts)).

collect(Id, Events) ->
    ok = ferry_telemetry:attach_many(Id, Events, fun forward/4, self()).

forward(Event, Measurements, Metadata, Pid) ->
    Pid ! {event, Event, Measurements, Metadata}.

await(Event) ->
    receive {event, Event, M, Md} -> {M, Md}
    after ?WAIT -> ct:fail("no ~0p event", [Event])
    end.

no_event(Event, Ms) ->
    receive {event, Event, M, Md} -> ct:fail("unexpected ~0p: ~0p ~0p", [Event, M, Md])
    after Ms -> ok
    end.

%% The whole response as the client read it: its head and body bytes,
%% read to the end of a `connection: close' response.
raw_get(Port, Path) ->
    S = ferry_test_lib:connect(Port),
    ferry_test_lib:send_request(S, ["GET ", Path, " HTTP/1.1\r\nhost: t\r\nconnection: close\r\n\r\n"]),
    Bytes = read_all(S, []),
    gen_tcp:close(S),
    Bytes.

read_all(S, Acc) ->
    case gen_tcp:recv(S, 0, ?WAIT) of
        {ok, Data} -> read_all(S, [Acc | Data]);
        {error, closed} -> iolist_to_binary(Acc)
    end.

%%% Cases

plain_request(_Config) ->
    collect(plain, ?REQUEST_EVENTS),
    Port = start(plain_request),
    Response = raw_get(Port, "/hello/ada"),
    {match, _} = re:run(Response, <<"^HTTP/1.1 200.*hello ada$">>, [dotall]),
    {Start, StartMeta} = await([ferry, request, start]),
    ?assertEqual([monotonic_time, system_time], lists:sort(maps:keys(Start))),
    #{listener := plain_request, method := <<"GET">>, path := <<"/hello/ada">>,
      peer := {{127, 0, 0, 1}, PeerPort}, request_id := Id} = StartMeta,
    true = is_integer(PeerPort) andalso is_binary(Id),
    {Stop, StopMeta} = await([ferry, request, stop]),
    #{duration := D, monotonic_time := T, status := 200, req_body_bytes := 0,
      resp_body_bytes := 9, resp_bytes := Wire, sent_duration := Sent} = Stop,
    true = D > 0 andalso T >= maps:get(monotonic_time, Start) andalso Sent > 0,
    %% What Rust says it wrote is what the client read, head and all.
    ?assertEqual(byte_size(Response), Wire),
    #{route := <<"/hello/:name">>, status := 200, request_id := Id} = StopMeta,
    false = maps:is_key(error, StopMeta),
    no_event([ferry, request, exception], 100).

streamed_response(_Config) ->
    collect(streamed, [[ferry, request, stop]]),
    Port = start(streamed_response),
    Response = raw_get(Port, "/stream"),
    {match, _} = re:run(Response, <<"transfer-encoding: chunked">>),
    {Stop, #{route := <<"/stream">>}} = await([ferry, request, stop]),
    #{status := 200, resp_body_bytes := 5003, resp_bytes := Wire} = Stop,
    ?assertEqual(byte_size(Response), Wire).

crashed_handler(_Config) ->
    collect(crashed, ?REQUEST_EVENTS),
    Port = start(crashed_handler),
    {500, _, _} = ferry_test_lib:http(get, Port, "/crash"),
    _ = await([ferry, request, start]),
    {Measurements, Meta} = await([ferry, request, exception]),
    ?assertEqual([duration, monotonic_time], lists:sort(maps:keys(Measurements))),
    #{kind := error, reason := on_purpose, stacktrace := [_ | _], route := <<"/crash">>,
      status := 500, listener := crashed_handler} = Meta,
    no_event([ferry, request, stop], 200),
    #{metrics := #{exceptions := 1, status_classes := #{'5xx' := 1}}} = ferry:info(crashed_handler).

%% The client sends half of its body and leaves: stop says why, with the
%% bytes that did arrive, and no status.
client_leaves(_Config) ->
    collect(leaves, [[ferry, request, stop]]),
    Port = start(client_leaves, #{inline_body => 16}),
    S = ferry_test_lib:connect(Port),
    ferry_test_lib:send_request(S, <<"POST /upload HTTP/1.1\r\nhost: t\r\ncontent-length: 1000\r\n\r\n",
                                     (binary:copy(<<"y">>, 100))/binary>>),
    Read = receive {upload_read, N} -> N after ?WAIT -> ct:fail(no_upload) end,
    gen_tcp:close(S),
    {Stop, Meta} = await([ferry, request, stop]),
    #{error := peer_closed, status := undefined, route := <<"/upload">>} = Meta,
    #{req_body_bytes := Read} = Stop,
    true = Read >= 50,
    false = maps:is_key(status, Stop),
    #{metrics := #{status_classes := #{none := 1}}} = ferry:info(client_leaves).

port_kill(_Config) ->
    collect(port, [[ferry, port, start], [ferry, port, exit], [ferry, port, restart]]),
    _Port = start(port_kill),
    {_, #{os_pid := OsPid, shard := 1, listener := port_kill}} = await([ferry, port, start]),
    ferry_test_lib:os_kill(OsPid),
    {_, #{os_pid := OsPid, reason := {exit_status, 137}}} = await([ferry, port, exit]),
    {#{restarts := 1, delay_ms := Delay}, _} = await([ferry, port, restart]),
    true = is_integer(Delay),
    {#{restarts := 1}, #{os_pid := NewPid}} = await([ferry, port, start]),
    true = NewPid =/= OsPid,
    #{restarts := 1} = ferry:info(port_kill),
    Text = iolist_to_binary(ferry_metrics:prometheus([port_kill])),
    1 = sample(parse(Text), "ferry_port_restarts_total", [{"listener", "port_kill"}]).

websocket(_Config) ->
    collect(ws, [[ferry, request, stop], [ferry, websocket, upgrade], [ferry, websocket, close]]),
    Port = start(websocket),
    {ok, S, _} = ferry_ws_client:connect(Port, <<"/ws">>),
    {#{status := 101}, #{route := <<"/ws">>}} = await([ferry, request, stop]),
    {#{monotonic_time := _}, #{path := <<"/ws">>, route := <<"/ws">>}} =
        await([ferry, websocket, upgrade]),
    ok = ferry_ws_client:close(S),
    {#{duration := D}, #{reason := remote, code := 1000}} = await([ferry, websocket, close]),
    true = D > 0,
    #{metrics := #{websocket_upgrades := 1, websocket_closes := 1}} = ferry:info(websocket).

detach_stops_delivery(_Config) ->
    collect(detach, [[ferry, request, stop]]),
    Port = start(detach_stops_delivery),
    {200, _, _} = ferry_test_lib:http(get, Port, "/hello/a"),
    _ = await([ferry, request, stop]),
    ok = ferry_telemetry:detach(detach),
    {error, not_found} = ferry_telemetry:detach(detach),
    {200, _, _} = ferry_test_lib:http(get, Port, "/hello/b"),
    no_event([ferry, request, stop], 300),
    [] = ferry_telemetry:list_handlers().

crashing_handler_is_detached(_Config) ->
    ferry_test_lib:capture_logs(),
    ok = ferry_telemetry:attach(bad, [ferry, request, stop],
                                fun(_, _, _, _) -> error(handler_bug) end, []),
    collect(good, [[ferry, request, stop]]),
    {error, already_exists} = ferry_telemetry:attach(bad, [ferry, request, stop],
                                                     fun forward/4, self()),
    Port = start(crashing_handler_is_detached),
    {200, _, <<"hello a">>} = ferry_test_lib:http(get, Port, "/hello/a"),
    #{handler_id := bad, class := error, reason := handler_bug} =
        ferry_test_lib:await_log(fun(#{what := W}) -> W =:= telemetry_handler_failed end, ?WAIT),
    _ = await([ferry, request, stop]),
    [good] = [Id || #{id := Id} <- ferry_telemetry:list_handlers()],
    %% The good one still hears the next request; the bad one is gone.
    {200, _, _} = ferry_test_lib:http(get, Port, "/hello/b"),
    _ = await([ferry, request, stop]).

access_log(_Config) ->
    ok = logger:add_handler(access_capture, ferry_test_lib, #{config => #{pid => self(), all => true},
                                                             level => all}),
    try
        Port = start(access_log, #{access_log => notice, sent_events => false}),
        Response = raw_get(Port, "/hello/log?x=1"),
        Line = await_access_line(),
        {match, _} = re:run(Line, <<"^127\\.0\\.0\\.1 \"GET /hello/log\\?x=1 HTTP/1\\.1\" 200 ",
                                    "9 [0-9]+\\.[0-9]{3}ms$">>),
        %% Without sent_events the line has the body's bytes, not the wire's.
        true = byte_size(Response) > 9
    after
        logger:remove_handler(access_capture)
    end,
    Port2 = start(access_log_sent, #{access_log => true}),
    ok = logger:add_handler(access_capture, ferry_test_lib, #{config => #{pid => self(), all => true},
                                                             level => all}),
    OldLevel = maps:get(level, logger:get_primary_config()),
    logger:set_primary_config(level, info),
    try
        Response2 = raw_get(Port2, "/hello/wire"),
        {Line2, Meta} = await_access(),
        {match, [Bytes]} = re:run(Line2, <<"\" 200 ([0-9]+) ">>, [{capture, all_but_first, binary}]),
        ?assertEqual(byte_size(Response2), binary_to_integer(Bytes)),
        #{listener := access_log_sent, method := <<"GET">>, path := <<"/hello/wire">>,
          status := 200, route := <<"/hello/:name">>, request_id := _, duration_us := _} = Meta
    after
        logger:set_primary_config(level, OldLevel),
        logger:remove_handler(access_capture),
        ferry:stop_listener(access_log_sent)
    end.

await_access_line() -> element(1, await_access()).

await_access() ->
    receive
        {any_log, _, {"~ts", [Line]}, #{mfa := {ferry_access_log, _, _}} = Meta} ->
            {iolist_to_binary(Line), Meta};
        {any_log, _, _, _} -> await_access()
    after ?WAIT -> ct:fail("no access log line")
    end.

%% Counters of ferry:info and the Prometheus text agree with the requests
%% made: 5 answered 200, 2 answered 404 (no route), 1 crash (500).
prometheus_agrees(_Config) ->
    Port = start(prometheus_agrees, #{sent_events => false}),
    [{200, _, _} = ferry_test_lib:http(get, Port, "/hello/" ++ integer_to_list(N))
     || N <- lists:seq(1, 5)],
    [{404, _, _} = ferry_test_lib:http(get, Port, "/nowhere") || _ <- [1, 2]],
    {500, _, _} = ferry_test_lib:http(get, Port, "/crash"),
    %% A request's counters are added as its process ends, after the answer.
    ferry_test_lib:wait_until(
      fun() -> maps:get(requests, maps:get(metrics, ferry:info(prometheus_agrees))) =:= 8 end,
      ?WAIT),
    Samples = parse(iolist_to_binary(ferry_metrics:prometheus([prometheus_agrees, no_such]))),
    L = {"listener", "prometheus_agrees"},
    5 = sample(Samples, "ferry_requests_total", [L, {"status_class", "2xx"}]),
    2 = sample(Samples, "ferry_requests_total", [L, {"status_class", "4xx"}]),
    1 = sample(Samples, "ferry_requests_total", [L, {"status_class", "5xx"}]),
    0 = sample(Samples, "ferry_requests_total", [L, {"status_class", "none"}]),
    1 = sample(Samples, "ferry_request_exceptions_total", [L]),
    8 = sample(Samples, "ferry_request_duration_seconds_count", [L]),
    8 = sample(Samples, "ferry_request_duration_seconds_bucket", [L, {"le", "+Inf"}]),
    true = sample(Samples, "ferry_request_duration_seconds_sum", [L]) > 0,
    Buckets = [V || {"ferry_request_duration_seconds_bucket", _, V} <- Samples],
    ?assertEqual(Buckets, lists:sort(Buckets)),
    ?assertEqual(length(ferry_metrics:bounds_us()) + 1, length(Buckets)),
    0 = sample(Samples, "ferry_port_restarts_total", [L]),
    %% Bodies: "hello N" (7 bytes) five times, "Not Found\n" twice.
    55 = sample(Samples, "ferry_response_bytes_total", [L]),
    true = sample(Samples, "ferry_connections", [L]) >= 0,
    %% Every family has its HELP and TYPE, and a listener not running none.
    [] = [N || {N, _, _} <- Samples, not lists:prefix("ferry_", N)],
    {match, _} = re:run(ferry_metrics:prometheus([prometheus_agrees]),
                        <<"# TYPE ferry_request_duration_seconds histogram\n">>).

not_found_has_no_route(_Config) ->
    collect(nf, [[ferry, request, stop]]),
    Port = start(not_found_has_no_route),
    {404, _, _} = ferry_test_lib:http(get, Port, "/nowhere"),
    {#{status := 404}, #{route := undefined, status := 404}} = await([ferry, request, stop]).

%%% A small parser of the Prometheus text format (0.0.4): comments must be
%%% HELP or TYPE lines of a known type; a sample is name{labels} value.

parse(Text) ->
    Lines = [L || L <- binary:split(Text, <<"\n">>, [global]), L =/= <<>>],
    lists:flatmap(fun parse_line/1, Lines).

parse_line(<<"# HELP ", Rest/binary>>) ->
    [_Name, _Help] = binary:split(Rest, <<" ">>),
    [];
parse_line(<<"# TYPE ", Rest/binary>>) ->
    [_Name, Type] = binary:split(Rest, <<" ">>),
    true = lists:member(Type, [<<"counter">>, <<"gauge">>, <<"histogram">>, <<"summary">>,
                               <<"untyped">>]),
    [];
parse_line(Line) ->
    {match, [Name, Labels, Value]} =
        re:run(Line, <<"^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\\{(.*)\\})? ([^ ]+)$">>,
               [{capture, all_but_first, list}]),
    [{Name, labels(Labels), number(Value)}].

labels("") -> [];
labels(Text) ->
    {match, Pairs} = re:run(Text, <<"([a-zA-Z_][a-zA-Z0-9_]*)=\"((?:[^\"\\\\]|\\\\.)*)\"">>,
                            [global, {capture, all_but_first, list}]),
    lists:sort([{K, V} || [K, V] <- Pairs]).

number("+Inf") -> infinity;
number(Text) ->
    case string:to_integer(Text) of
        {N, ""} -> N;
        _ -> list_to_float(Text)
    end.

sample(Samples, Name, Labels) ->
    case [V || {N, L, V} <- Samples, N =:= Name, L =:= lists:sort(Labels)] of
        [V] -> V;
        Other -> ct:fail("~s~0p: ~0p", [Name, Labels, Other])
    end.

%%% The WebSocket of the websocket case

websocket_handle(_Frame, State) -> {ok, State}.
websocket_info(_Info, State) -> {ok, State}.
