-module(ferry_metrics_tests).
-include_lib("eunit/include/eunit.hrl").

us(N) -> erlang:convert_time_unit(N, microsecond, native).

%% A bucket's bound belongs to it; one µs more is the next bucket's.
bucket_bounds_test() ->
    Ref = ferry_metrics:new(),
    ok = ferry_metrics:request(Ref, 200, us(100), 0, 0, false),
    ok = ferry_metrics:request(Ref, 200, us(101), 0, 0, false),
    ok = ferry_metrics:request(Ref, 503, us(20000000), 0, 0, false),
    #{duration := #{buckets := [First, Second | _] = Buckets, count := 3}} = ferry_metrics:read(Ref),
    ?assertEqual(#{le_us => 100, count => 1}, First),
    ?assertEqual(#{le_us => 250, count => 2}, Second),
    ?assertEqual(#{le_us => infinity, count => 3}, lists:last(Buckets)),
    ?assertEqual(#{le_us => 10000000, count => 2}, lists:nth(length(Buckets) - 1, Buckets)).

counts_test() ->
    Ref = ferry_metrics:new(),
    ok = ferry_metrics:request(Ref, 101, 0, 0, 0, false),
    ok = ferry_metrics:request(Ref, 404, 0, 5, 7, false),
    ok = ferry_metrics:request(Ref, 500, 0, 0, 0, true),
    ok = ferry_metrics:request(Ref, undefined, 0, 3, 0, false),
    ok = ferry_metrics:websocket(Ref, upgrade),
    #{requests := 4, exceptions := 1, req_body_bytes := 8, resp_bytes := 7,
      websocket_upgrades := 1, websocket_closes := 0,
      status_classes := #{'1xx' := 1, '2xx' := 0, '4xx' := 1, '5xx' := 1, none := 1}} =
        ferry_metrics:read(Ref).
