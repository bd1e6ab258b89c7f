%% Streamed responses: chunked bodies, trailers, a client slower than the
%% handler (the handler blocks, memory stays bounded), server-sent events.
-module(ferry_stream_SUITE).
-include_lib("common_test/include/ct.hrl").
-include_lib("stdlib/include/assert.hrl").

-export([all/0, init_per_suite/1, end_per_suite/1]).
-export([streamed_response/1, streamed_with_length/1, trailers/1, done_ends_stream/1,
         slow_client_blocks_handler/1, sse/1, request_runs_without_collection/1]).

-define(MB, 1048576).

all() ->
    [streamed_response, streamed_with_length, trailers, done_ends_stream,
     slow_client_blocks_handler, sse, request_runs_without_collection].

init_per_suite(Config0) ->
    Config = ferry_test_lib:init_per_suite(Config0),
    Routes = [{<<"GET">>, <<"/stream/:n">>, fun stream/1},
              {<<"GET">>, <<"/length">>, fun with_length/1},
              {<<"GET">>, <<"/trailers">>, fun trailers_h/1},
              {<<"GET">>, <<"/unended">>, fun unended/1},
              {<<"GET">>, <<"/big/:test">>, fun big/1},
              {<<"GET">>, <<"/sse/:test">>, fun sse_h/1},
              {<<"GET">>, <<"/heap">>, fun heap/1}],
    Port = ferry_test_lib:start(stream, #{routes => Routes}),
    [{port, Port} | Config].

end_per_suite(Config) ->
    ok = ferry:stop_listener(stream),
    ferry_test_lib:end_per_suite(Config).

%%% Handlers

stream(Req0) ->
    N = binary_to_integer(ferry_req:binding(n, Req0)),
    Req = ferry_req:stream_reply(200, [{<<"content-type">>, <<"text/plain">>}], Req0),
    _ = [ferry_req:stream_body([<<"line ">>, integer_to_binary(I), $\n], nofin, Req)
         || I <- lists:seq(1, N)],
    {done, ferry_req:stream_body(<<"end\n">>, fin, Req)}.

with_length(Req0) ->
    Req = ferry_req:stream_reply(200, [{<<"content-length">>, <<"10">>}], Req0),
    _ = ferry_req:stream_body(<<"01234">>, nofin, Req),
    {done, ferry_req:stream_body(<<"56789">>, fin, Req)}.

trailers_h(Req0) ->
    Req = ferry_req:stream_reply(200, [{<<"trailer">>, <<"x-checksum">>}], Req0),
    _ = ferry_req:stream_body(<<"data">>, nofin, Req),
    {done, ferry_req:stream_trailers([{<<"x-checksum">>, <<"abc">>}], Req)}.

unended(Req0) ->
    Req = ferry_req:stream_reply(200, [], Req0),
    {done, ferry_req:stream_body(<<"not ended by me">>, nofin, Req)}.

%% Streams 64 MiB in 1 MiB parts, telling the test how far it got.
big(Req0) ->
    Test = ferry_test_lib:path_pid(ferry_req:binding(test, Req0)),
    Part = binary:copy(<<"z">>, ?MB),
    Req = ferry_req:stream_reply(200, [], Req0),
    lists:foreach(fun(I) -> _ = ferry_req:stream_body(Part, nofin, Req), Test ! {sent, I} end,
                  lists:seq(1, 64)),
    {done, ferry_req:stream_body(<<>>, fin, Req)}.

sse_h(Req0) ->
    Test = ferry_test_lib:path_pid(ferry_req:binding(test, Req0)),
    Req = ferry_req:sse_start(Req0),
    Test ! {sse_handler, self()},
    sse_loop(Req).

sse_loop(Req) ->
    receive
        {event, Event} -> sse_loop(ferry_req:send_event(Event, Req));
        stop -> {done, Req}
    end.

%% The collections this request's process has made, and its minimum heap.
heap(_Req) ->
    {garbage_collection, GC} = process_info(self(), garbage_collection),
    {200, [], term_to_binary({proplists:get_value(minor_gcs, GC),
                              proplists:get_value(min_heap_size, GC)})}.

%%% Cases

streamed_response(Config) ->
    Port = ?config(port, Config),
    Expected = iolist_to_binary([[<<"line ">>, integer_to_binary(I), $\n]
                                 || I <- lists:seq(1, 1000)] ++ [<<"end\n">>]),
    ?assertMatch({200, _, Expected}, ferry_test_lib:http(get, Port, "/stream/1000")),
    {200, Headers, Raw} = ferry_test_lib:raw(Port, <<"GET /stream/1000 HTTP/1.1\r\nhost: x\r\n\r\n">>),
    ?assertEqual(Expected, Raw),
    ?assertEqual(<<"chunked">>, proplists:get_value(<<"transfer-encoding">>, Headers)).

streamed_with_length(Config) ->
    {200, Headers, Body} = ferry_test_lib:raw(?config(port, Config),
                                              <<"GET /length HTTP/1.1\r\nhost: x\r\n\r\n">>),
    ?assertEqual(<<"0123456789">>, Body),
    ?assertEqual(<<"10">>, proplists:get_value(<<"content-length">>, Headers)).

trailers(Config) ->
    S = ferry_test_lib:connect(?config(port, Config)),
    ferry_test_lib:send_request(S, <<"GET /trailers HTTP/1.1\r\nhost: x\r\nte: trailers\r\n\r\n">>),
    {200, _} = ferry_test_lib:recv_head(S, 10000),
    ?assertEqual({chunk, <<"data">>}, ferry_test_lib:recv_chunk(S, 10000)),
    ?assertEqual({trailers, [{<<"x-checksum">>, <<"abc">>}]}, ferry_test_lib:recv_chunk(S, 10000)),
    gen_tcp:close(S).

done_ends_stream(Config) ->
    ?assertMatch({200, _, <<"not ended by me">>},
                 ferry_test_lib:http(get, ?config(port, Config), "/unended")).

%% A client that reads nothing: the handler gets as far as the windows
%% allow and then waits in stream_body; the VM holds no more than that.
slow_client_blocks_handler(Config) ->
    Port = ?config(port, Config),
    erlang:garbage_collect(),
    Before = erlang:memory(total),
    S = ferry_test_lib:connect(Port),
    ok = inet:setopts(S, [{recbuf, 65536}]),
    ferry_test_lib:send_request(S, [<<"GET /big/">>, ferry_test_lib:pid_path(self()),
                                    <<" HTTP/1.1\r\nhost: x\r\n\r\n">>]),
    %% Let it run into the windows, then see how far it got.
    timer:sleep(1000),
    SentWhileStalled = drain_sent(0),
    Growth = erlang:memory(total) - Before,
    ct:pal("handler stalled after ~p of 64 MiB; VM memory growth ~.1f MB",
           [SentWhileStalled, Growth / ?MB]),
    ?assert(SentWhileStalled < 64),
    ?assert(Growth < 32 * ?MB),
    %% Now read it all: the handler resumes and finishes.
    {200, _} = ferry_test_lib:recv_head(S, 10000),
    Total = read_all_chunks(S, 0),
    ?assertEqual(64 * ?MB, Total),
    gen_tcp:close(S).

drain_sent(Last) ->
    receive {sent, I} -> drain_sent(I) after 0 -> Last end.

read_all_chunks(S, Acc) ->
    case ferry_test_lib:recv_chunk(S, 30000) of
        {chunk, Data} -> read_all_chunks(S, Acc + byte_size(Data));
        {trailers, _} -> Acc
    end.

sse(Config) ->
    Port = ?config(port, Config),
    S = ferry_test_lib:connect(Port),
    ferry_test_lib:send_request(S, [<<"GET /sse/">>, ferry_test_lib:pid_path(self()),
                                    <<" HTTP/1.1\r\nhost: x\r\naccept: text/event-stream\r\n\r\n">>]),
    Handler = receive {sse_handler, H} -> H after 10000 -> ct:fail(no_sse_handler) end,
    {200, Headers} = ferry_test_lib:recv_head(S, 10000),
    %% A stream may live long: its process is back to the VM's minimum heap
    %% (a request's process starts with a larger one, ferry_handler).
    ?assertEqual(erlang:system_info(min_heap_size), process_info(Handler, min_heap_size)),
    ?assertEqual(<<"text/event-stream">>, proplists:get_value(<<"content-type">>, Headers)),
    %% Each event reaches the client when it is sent, not at the end.
    Handler ! {event, <<"first">>},
    ?assertEqual({chunk, <<"data: first\n\n">>}, ferry_test_lib:recv_chunk(S, 10000)),
    Handler ! {event, #{event => <<"tick">>, id => <<"2">>, data => <<"a\nb">>}},
    ?assertEqual({chunk, <<"event: tick\nid: 2\ndata: a\ndata: b\n\n">>},
                 ferry_test_lib:recv_chunk(S, 10000)),
    Handler ! stop,
    ?assertMatch({trailers, []}, ferry_test_lib:recv_chunk(S, 10000)),
    gen_tcp:close(S).

%% A request's process starts with a heap that holds the decoded request,
%% 15 headers included (a browser sends about that many), and the
%% handler's work: no collection copies it.
request_runs_without_collection(Config) ->
    Port = ?config(port, Config),
    Headers = [{"x-header-" ++ integer_to_list(I), lists:duplicate(40, $v)} || I <- lists:seq(1, 15)],
    {200, _, Body} = ferry_test_lib:http(get, Port, "/heap", Headers, <<>>),
    {MinorGCs, MinHeap} = binary_to_term(Body, [safe]),
    {min_heap_size, Default} = erlang:system_info(min_heap_size),
    ?assertEqual(0, MinorGCs),
    ?assert(MinHeap > Default).
