%% The Ferry handler of the benchmark: the same HTTP routes as every other
%% bench server (bench/servers/bench_mochiweb.erl, bench/tiny_http_baseline.rs),
%% and the WebSocket routes of bench/servers/bench_ferry_ws.erl.
-module(bench_ferry_h).
-export([handle/1]).

-define(READ_LENGTH, 1048576).

-spec handle(ferry_req:req()) -> ferry_handler:result().
handle(#{method := <<"GET">>, path := <<"/">>}) ->
    {200, [{<<"content-type">>, <<"text/plain">>}], <<"Hello, world!">>};
handle(#{method := <<"POST">>, path := <<"/upload">>} = Req) ->
    Total = count_body(Req, 0),
    {200, [{<<"content-type">>, <<"text/plain">>}], integer_to_binary(Total)};
handle(#{method := <<"GET">>, path := <<"/download">>} = Req) ->
    Bytes = bench_server:query_bytes(ferry_req:parse_qs(Req)),
    Req1 = ferry_req:stream_reply(200, [{<<"content-type">>, <<"application/octet-stream">>},
                                        {<<"content-length">>, integer_to_binary(Bytes)}], Req),
    Req2 = bench_server:send_zeros(Bytes, fun(Data, R) -> ferry_req:stream_body(Data, nofin, R) end, Req1),
    {done, ferry_req:stream_body(<<>>, fin, Req2)};
handle(#{method := <<"GET">>, path := <<"/file">>} = Req) ->
    Path = bench_server:file_path(bench_server:query_bytes(ferry_req:parse_qs(Req))),
    {done, ferry_req:send_file(200, [{<<"content-type">>, <<"application/octet-stream">>}], Path, Req)};
handle(#{method := <<"POST">>, path := <<"/upload_file">>} = Req) ->
    {ok, #{path := Path, bytes := Total}, Req1} = ferry_req:read_body_to_file(Req, #{path => tmp}),
    Req2 = ferry_req:reply(200, [{<<"content-type">>, <<"text/plain">>}], integer_to_binary(Total), Req1),
    ok = file:delete(Path),
    {done, Req2};
handle(#{method := <<"GET">>, path := <<"/ws">>} = Req) ->
    bench_ferry_ws:upgrade(echo, Req);
handle(#{method := <<"GET">>, path := <<"/ws/sub">>} = Req) ->
    bench_ferry_ws:upgrade(sub, Req);
handle(#{method := <<"POST">>, path := <<"/publish">>} = Req) ->
    {ok, Text, _} = ferry_req:read_full_body(Req, 65536),
    ok = bench_ferry_ws:publish(Text),
    {200, [{<<"content-type">>, <<"text/plain">>}], <<"ok">>};
handle(_Req) ->
    {404, [{<<"content-type">>, <<"text/plain">>}], <<"not found">>}.

count_body(Req, N) ->
    case ferry_req:read_body(Req, #{length => ?READ_LENGTH}) of
        {ok, Data, _Req} -> N + byte_size(Data);
        {more, Data, Req1} -> count_body(Req1, N + byte_size(Data))
    end.
