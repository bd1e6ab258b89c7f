%% Streamed request bodies: a 100 MB upload read in chunks with the VM's
%% memory staying flat, read_full_body and its limit, chunked uploads,
%% `expect: 100-continue'.
-module(ferry_body_SUITE).
-include_lib("common_test/include/ct.hrl").
-include_lib("stdlib/include/assert.hrl").

-export([all/0, init_per_suite/1, end_per_suite/1]).
-export([upload_100mb_flat_memory/1, full_body/1, full_body_too_large/1,
         chunked_upload/1, expect_continue/1, small_length_reads/1, read_twice/1,
         chunks_are_not_copied/1]).

-define(MB, 1048576).

all() ->
    [upload_100mb_flat_memory, full_body, full_body_too_large, chunked_upload,
     expect_continue, small_length_reads, read_twice, chunks_are_not_copied].

init_per_suite(Config0) ->
    Config = ferry_test_lib:init_per_suite(Config0),
    Routes = [{<<"POST">>, <<"/count">>, fun count/1},
              {<<"POST">>, <<"/full">>, fun full/1},
              {<<"POST">>, <<"/small">>, fun small/1},
              {<<"POST">>, <<"/twice">>, fun twice/1},
              {<<"POST">>, <<"/slices">>, fun slices/1}],
    Port = ferry_test_lib:start(body, #{routes => Routes}),
    [{port, Port} | Config].

end_per_suite(Config) ->
    ok = ferry:stop_listener(body),
    ferry_test_lib:end_per_suite(Config).

%% Reads the body in chunks, keeping only its size and CRC-32.
count(Req) ->
    {Size, Crc, Reads} = count(Req, 0, erlang:crc32(<<>>), 0),
    {200, [], io_lib:format("~b ~b ~b", [Size, Crc, Reads])}.

count(Req0, Size, Crc, Reads) ->
    {Status, Data, Req} = ferry_req:read_body(Req0),
    NewSize = Size + byte_size(Data),
    NewCrc = erlang:crc32(Crc, Data),
    case Status of
        ok -> {NewSize, NewCrc, Reads + 1};
        more -> count(Req, NewSize, NewCrc, Reads + 1)
    end.

full(Req0) ->
    case ferry_req:read_full_body(Req0, 1000000) of
        {ok, Body, _Req} -> {200, [], [integer_to_binary(byte_size(Body)), $\s, Body]};
        {error, too_large} -> {413, [], <<"too large\n">>}
    end.

%% Reads the whole body, then reads again: Plug's rule, `<<>>' once read,
%% whether the body came inline or as a stream.
twice(Req0) ->
    {ok, A, Req1} = ferry_req:read_full_body(Req0, 1000000),
    {ok, B, Req2} = ferry_req:read_body(Req1),
    {ok, C, _} = ferry_req:read_full_body(Req2, 10),
    {200, [], io_lib:format("~b ~b ~b", [byte_size(A), byte_size(B), byte_size(C)])}.

%% Reads with `length => 1000': every `more' part is at least 1000 bytes.
small(Req) ->
    Parts = small(Req, []),
    Sizes = [byte_size(P) || P <- Parts],
    {200, [], term_to_binary({Sizes, iolist_to_binary(Parts)})}.

small(Req0, Acc) ->
    case ferry_req:read_body(Req0, #{length => 1000}) of
        {ok, Data, _} -> lists:reverse([Data | Acc]);
        {more, Data, Req} -> small(Req, [Data | Acc])
    end.

%% Reads with `length => 1000' and tells, for each part, its size and the
%% size of the binary it lies in.
slices(Req) ->
    Parts = small(Req, []),
    {200, [], term_to_binary([{byte_size(P), binary:referenced_byte_size(P)} || P <- Parts])}.

%%% Cases

upload_100mb_flat_memory(Config) ->
    Port = ?config(port, Config),
    Block = crypto_free_block(?MB),
    Blocks = 100,
    ExpectedCrc = lists:foldl(fun(_, C) -> erlang:crc32(C, Block) end, erlang:crc32(<<>>),
                              lists:seq(1, Blocks)),
    erlang:garbage_collect(),
    Before = erlang:memory(total),
    Sampler = spawn_link(fun() -> sample_memory(Before) end),
    S = ferry_test_lib:connect(Port),
    Started = erlang:monotonic_time(millisecond),
    ferry_test_lib:send_request(S, [<<"POST /count HTTP/1.1\r\nhost: x\r\ncontent-length: ">>,
                                    integer_to_binary(Blocks * ?MB), <<"\r\n\r\n">>]),
    [ok = gen_tcp:send(S, Block) || _ <- lists:seq(1, Blocks)],
    {200, _, Answer} = ferry_test_lib:recv_response(S, 60000),
    Elapsed = erlang:monotonic_time(millisecond) - Started,
    Sampler ! {done, self()},
    Peak = receive {peak, P} -> P end,
    gen_tcp:close(S),
    [Size, Crc, Reads] = [binary_to_integer(X) || X <- binary:split(Answer, <<" ">>, [global])],
    ?assertEqual(Blocks * ?MB, Size),
    ?assertEqual(ExpectedCrc, Crc),
    %% read_body returns 1 MiB, or at most one chunk (up to 1 MiB) more, per call.
    ?assert(Reads >= Blocks div 2),
    Growth = Peak - Before,
    ct:pal("100 MB upload: ~p ms, ~p read_body calls, peak VM memory growth ~.1f MB",
           [Elapsed, Reads, Growth / ?MB]),
    %% Flat: the VM never holds more than a few windows of the body.
    ?assert(Growth < 32 * ?MB).

sample_memory(Peak) ->
    receive {done, From} -> From ! {peak, Peak}
    after 5 -> sample_memory(max(Peak, erlang:memory(total)))
    end.

%% Not random (no crypto app needed), but not all one byte either.
crypto_free_block(Size) ->
    << <<(N rem 251)>> || N <- lists:seq(1, Size) >>.

full_body(Config) ->
    Port = ?config(port, Config),
    Body = binary:copy(<<"0123456789">>, 50000),   % 500 kB: streamed, not inline
    {200, _, Answer} = ferry_test_lib:http(post, Port, "/full", [], Body),
    ?assertEqual(<<"500000 ", Body/binary>>, Answer).

full_body_too_large(Config) ->
    Port = ?config(port, Config),
    Body = binary:copy(<<"x">>, 1000001),
    ?assertMatch({413, _, _}, ferry_test_lib:http(post, Port, "/full", [], Body)).

chunked_upload(Config) ->
    Port = ?config(port, Config),
    Chunks = [binary:copy(<<C>>, 70000) || C <- "abc"],
    Encoded = [[integer_to_binary(byte_size(C), 16), <<"\r\n">>, C, <<"\r\n">>] || C <- Chunks],
    Request = [<<"POST /full HTTP/1.1\r\nhost: x\r\ntransfer-encoding: chunked\r\n\r\n">>,
               Encoded, <<"0\r\n\r\n">>],
    {200, _, Answer} = ferry_test_lib:raw(Port, Request),
    ?assertEqual(iolist_to_binary([<<"210000 ">> | Chunks]), Answer).

%% The client waits for 100 Continue before it sends the body; Rust sends it
%% when the handler first reads.
expect_continue(Config) ->
    Port = ?config(port, Config),
    S = ferry_test_lib:connect(Port),
    ferry_test_lib:send_request(S, <<"POST /full HTTP/1.1\r\nhost: x\r\ncontent-length: 5\r\n"
                                     "expect: 100-continue\r\n\r\n">>),
    {ok, Continue} = gen_tcp:recv(S, 0, 10000),
    ?assertMatch(<<"HTTP/1.1 100 Continue\r\n", _/binary>>, Continue),
    ferry_test_lib:send_request(S, <<"hello">>),
    ?assertMatch({200, _, <<"5 hello">>}, ferry_test_lib:recv_response(S)),
    gen_tcp:close(S).

small_length_reads(Config) ->
    Port = ?config(port, Config),
    Body = binary:copy(<<"abcdefgh">>, 20000),  % 160 kB
    {200, _, Answer} = ferry_test_lib:http(post, Port, "/small", [], Body),
    {Sizes, Echoed} = binary_to_term(Answer),
    ?assertEqual(Body, Echoed),
    [?assert(S >= 1000) || S <- lists:droplast(Sizes)],
    ?assert(length(Sizes) >= 2).

read_twice(Config) ->
    Port = ?config(port, Config),
    %% 5 bytes come inline, 200 KB (over inline_body) as a stream.
    ?assertMatch({200, _, <<"5 0 0">>}, ferry_test_lib:http(post, Port, "/twice", [], <<"hello">>)),
    ?assertMatch({200, _, <<"200000 0 0">>},
                 ferry_test_lib:http(post, Port, "/twice", [], binary:copy(<<"x">>, 200000))).

%% A read_body answer that is one chunk is that chunk as it came in the
%% port's frame (the frame's few bytes of head around it), not a copy: a
%% copy lies in a binary of its own size, or of twice it when it was grown.
chunks_are_not_copied(Config) ->
    Port = ?config(port, Config),
    Body = binary:copy(<<"abcdefgh">>, 100000),  % 800 kB
    {200, _, Answer} = ferry_test_lib:http(post, Port, "/slices", [], Body),
    Parts = binary_to_term(Answer),
    ?assertEqual(byte_size(Body), lists:sum([Size || {Size, _} <- Parts])),
    Slices = [Part || {Size, In} = Part <- Parts, In > Size, In - Size < 64],
    ?assertNotEqual([], Slices, Parts).
