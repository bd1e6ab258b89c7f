%% Hostile clients (issue 9) against the BEAM side: uploads in 1-byte
%% chunks keep the port owner's mailbox and the VM's memory bounded; a
%% response larger than max_frame or than the send window goes out as a
%% stream, so it neither kills the Rust process (and every bystander
%% connection) nor makes Rust hold it whole for a client that reads nothing;
%% a handler that answers only 1xx gets its client a 500 at once; a port
%% exit is logged with its exit code's name.
-module(ferry_hostile_SUITE).
-include_lib("common_test/include/ct.hrl").
-include_lib("stdlib/include/assert.hrl").

-export([all/0, init_per_suite/1, end_per_suite/1, init_per_testcase/2, end_per_testcase/2]).
-export([upload_1byte_chunks/1, bystanders_survive_huge_response/1, huge_head_response/1,
         unread_big_responses_bound_rust_rss/1, big_response_outlives_request_timeout/1,
         big_response_content_length/1, oversized_headers_refused/1,
         informational_only_is_500/1, informational_then_final/1, exit_code_logged/1]).

-define(MiB, 1048576).

all() ->
    [bystanders_survive_huge_response, huge_head_response, unread_big_responses_bound_rust_rss,
     big_response_outlives_request_timeout, big_response_content_length,
     oversized_headers_refused, informational_only_is_500, informational_then_final,
     exit_code_logged, upload_1byte_chunks].

init_per_suite(Config0) ->
    Config = ferry_test_lib:init_per_suite(Config0),
    %% handler_timeout (Rust's 504) far above the waits of the 1xx cases, so
    %% they cannot pass by it.
    Port = ferry_test_lib:start(hostile, #{routes => routes(), handler_timeout => 30000}),
    %% A max_frame below the bodies and headers some cases send.
    Small = ferry_test_lib:start(hostile_small, #{routes => routes(), max_frame => ?MiB,
                                                  request_timeout => 500}),
    %% A max_frame above the 100 MiB bodies: only the send window bounds
    %% what Rust holds for a client that reads nothing.
    Wide = ferry_test_lib:start(hostile_wide, #{routes => routes(), max_frame => 256 * ?MiB}),
    [{port, Port}, {small_port, Small}, {wide_port, Wide} | Config].

end_per_suite(Config) ->
    _ = [ferry:stop_listener(L) || L <- [hostile, hostile_small, hostile_wide]],
    ferry_test_lib:end_per_suite(Config).

init_per_testcase(_Case, Config) ->
    ferry_test_lib:capture_logs(),
    Config.

end_per_testcase(_Case, _Config) ->
    _ = [ferry:stop_listener(L) || L <- [hostile_upload, hostile_tiny]],
    ferry_test_lib:stop_capture().

routes() ->
    [{<<"PUT">>, <<"/count">>, fun count/1},
     {<<"GET">>, <<"/ok">>, fun(_) -> {200, [], <<"ok">>} end},
     %% N bytes of "y" as one binary, returned whole.
     {<<"GET">>, <<"/whole/:n">>, fun(Req) -> {200, [], ys(Req)} end},
     %% The same through ferry_req:reply/4.
     {<<"GET">>, <<"/reply/:n">>, fun(Req) -> {done, ferry_req:reply(200, [], ys(Req), Req)} end},
     %% N MiB of "z" as an iolist of one shared 1 MiB binary.
     {<<"GET">>, <<"/mib/:n">>,
      fun(Req) ->
              N = binary_to_integer(ferry_req:binding(n, Req)),
              {200, [], lists:duplicate(N, binary:copy(<<"z">>, ?MiB))}
      end},
     {<<"GET">>, <<"/length/:n/:claimed">>,
      fun(Req) -> {200, [{<<"Content-Length">>, ferry_req:binding(claimed, Req)}], ys(Req)} end},
     {<<"GET">>, <<"/big_headers">>,
      fun(_) -> {200, [{<<"x-big">>, binary:copy(<<"h">>, 2 * ?MiB)}], <<"x">>} end},
     {<<"GET">>, <<"/early">>, fun(_) -> {103, [{<<"link">>, link()}], <<>>} end},
     {<<"GET">>, <<"/hints">>,
      fun(Req) ->
              _ = ferry_req:reply(103, [{<<"link">>, link()}], <<>>, Req),
              {200, [], <<"final">>}
      end}].

link() -> <<"</style.css>; rel=preload">>.

ys(Req) ->
    binary:copy(<<"y">>, binary_to_integer(ferry_req:binding(n, Req))).

%% Reads the body in a streaming loop; answers its size.
count(Req) ->
    {200, [], integer_to_binary(count(Req, 0))}.

count(Req0, Size) ->
    case ferry_req:read_body(Req0) of
        {ok, Data, _} -> Size + byte_size(Data);
        {more, Data, Req} -> count(Req, Size + byte_size(Data))
    end.

%%% Responses larger than the send window or max_frame

%% Before: the 64 MiB + 1 KiB respond frame was over max_frame; Rust
%% exited with EXIT_BAD_FRAME and every connection of the listener died.
bystanders_survive_huge_response(Config) ->
    Port = ?config(port, Config),
    OsPid = ferry:os_pid(hostile),
    Bystanders = [begin
                      S = ferry_test_lib:connect(Port),
                      ?assertMatch({200, _, <<"ok">>}, get(S, "/ok")),
                      S
                  end || _ <- lists:seq(1, 20)],
    Size = 64 * ?MiB + 1024,
    lists:foreach(
      fun(Path) ->
              S = ferry_test_lib:connect(Port),
              ferry_test_lib:send_request(S, request("GET", [Path, integer_to_list(Size)])),
              {200, Headers} = ferry_test_lib:recv_head(S, 30000),
              ?assertEqual(integer_to_binary(Size),
                           proplists:get_value(<<"content-length">>, Headers)),
              ?assertEqual(Size, recv_all_of(S, $y, Size)),
              %% The connection is kept for the next request.
              ?assertMatch({200, _, <<"ok">>}, get(S, "/ok")),
              gen_tcp:close(S)
      end, ["/whole/", "/reply/"]),
    [?assertMatch({200, _, <<"ok">>}, get(S, "/ok")) || S <- Bystanders],
    [gen_tcp:close(S) || S <- Bystanders],
    ?assertEqual(OsPid, ferry:os_pid(hostile)).

%% HEAD of a huge body: its content-length, no body bytes, and the
%% connection serves the next request (nothing waits for credit).
huge_head_response(Config) ->
    Port = ?config(port, Config),
    OsPid = ferry:os_pid(hostile),
    Size = 64 * ?MiB + 1024,
    S = ferry_test_lib:connect(Port),
    ferry_test_lib:send_request(S, request("HEAD", ["/whole/", integer_to_list(Size)])),
    {200, Headers} = ferry_test_lib:recv_head(S, 30000),
    ?assertEqual(integer_to_binary(Size), proplists:get_value(<<"content-length">>, Headers)),
    ?assertMatch({200, _, <<"ok">>}, get(S, "/ok")),
    gen_tcp:close(S),
    ?assertEqual(OsPid, ferry:os_pid(hostile)).

%% Three clients ask for 100 MiB each and read nothing: Rust holds about a
%% send window for each, not the bodies. Before: each body went to Rust
%% whole (max_frame is 256 MiB here), 300 MiB of RSS.
unread_big_responses_bound_rust_rss(Config) ->
    Port = ?config(wide_port, Config),
    OsPid = ferry:os_pid(hostile_wide),
    Baseline = vm_rss(OsPid),
    Size = 100 * ?MiB,
    Clients = [begin
                   S = ferry_test_lib:connect(Port),
                   ok = inet:setopts(S, [{recbuf, 65536}]),
                   ferry_test_lib:send_request(S, request("GET", "/mib/100")),
                   S
               end || _ <- lists:seq(1, 3)],
    Peak = peak_rss(OsPid, erlang:monotonic_time(millisecond) + 3000, Baseline),
    Growth = Peak - Baseline,
    ct:pal("3 unread 100 MiB responses: Rust VmRSS ~.1f MiB idle, peak ~.1f MiB (+~.1f MiB)",
           [Baseline / ?MiB, Peak / ?MiB, Growth / ?MiB]),
    ?assert(Growth < 32 * ?MiB),
    %% A client that reads gets every byte.
    [First | _] = Clients,
    {200, Headers} = ferry_test_lib:recv_head(First, 30000),
    ?assertEqual(integer_to_binary(Size), proplists:get_value(<<"content-length">>, Headers)),
    ?assertEqual(Size, recv_all_of(First, $z, Size)),
    [gen_tcp:close(S) || S <- Clients],
    ?assertEqual(OsPid, ferry:os_pid(hostile_wide)).

peak_rss(OsPid, Until, Peak) ->
    case erlang:monotonic_time(millisecond) >= Until of
        true -> Peak;
        false -> timer:sleep(50), peak_rss(OsPid, Until, max(Peak, vm_rss(OsPid)))
    end.

%% A whole response turned stream waits for credit past request_timeout
%% (500 ms on this listener) without being cut: the deadline is for
%% handlers that have not answered.
big_response_outlives_request_timeout(Config) ->
    Port = ?config(small_port, Config),
    OsPid = ferry:os_pid(hostile_small),
    Size = 4 * ?MiB,
    S = ferry_test_lib:connect(Port),
    ok = inet:setopts(S, [{recbuf, 65536}]),
    ferry_test_lib:send_request(S, request("GET", ["/whole/", integer_to_list(Size)])),
    timer:sleep(1500),
    {200, Headers} = ferry_test_lib:recv_head(S, 30000),
    ?assertEqual(integer_to_binary(Size), proplists:get_value(<<"content-length">>, Headers)),
    ?assertEqual(Size, recv_all_of(S, $y, Size)),
    gen_tcp:close(S),
    ?assertEqual(OsPid, ferry:os_pid(hostile_small)).

%% A handler's own content-length on a body sent as a stream: kept when it
%% is right, a 500 and a report when it is not (nothing is sent).
big_response_content_length(Config) ->
    Port = ?config(small_port, Config),
    OsPid = ferry:os_pid(hostile_small),
    Size = 2 * ?MiB,
    Path = fun(Claimed) -> ["/length/", integer_to_list(Size), "/", Claimed] end,
    S = ferry_test_lib:connect(Port),
    ferry_test_lib:send_request(S, request("GET", Path(integer_to_list(Size)))),
    {200, Headers} = ferry_test_lib:recv_head(S, 30000),
    ?assertEqual([integer_to_binary(Size)],
                 proplists:get_all_values(<<"content-length">>, Headers)),
    ?assertEqual(Size, recv_all_of(S, $y, Size)),
    gen_tcp:close(S),
    [begin
         ?assertMatch({500, _, _},
                      ferry_test_lib:raw(Port, request("GET", Path(Claimed)))),
         R = ferry_test_lib:await_log(fun(#{what := handler_failed}) -> true;
                                         (_) -> false end, 5000),
         ?assertMatch(#{bad_response := {content_length, _, Size}}, R)
     end || Claimed <- ["5", "%2B" ++ integer_to_list(Size)]],
    ?assertEqual(OsPid, ferry:os_pid(hostile_small)).

%% Headers that make a frame over max_frame are refused before they reach
%% the port: 500 and a report with the size. Before: Rust exited.
oversized_headers_refused(Config) ->
    Port = ?config(small_port, Config),
    OsPid = ferry:os_pid(hostile_small),
    ?assertMatch({500, _, _}, ferry_test_lib:raw(Port, request("GET", "/big_headers"))),
    R = ferry_test_lib:await_log(fun(#{what := handler_failed}) -> true; (_) -> false end, 5000),
    #{bad_response := {frame_too_large, Bytes, Max}, path := <<"/big_headers">>} = R,
    ?assertEqual(?MiB, Max),
    ?assert(Bytes > 2 * ?MiB),
    ?assertMatch({200, _, <<"ok">>}, ferry_test_lib:raw(Port, request("GET", "/ok"))),
    ?assertEqual(OsPid, ferry:os_pid(hostile_small)).

%%% 1xx

%% A 1xx is not a final answer: the client gets 500 at once, not a 504
%% after handler_timeout (30 s here). Before: the 103 went out and the
%% request waited.
informational_only_is_500(Config) ->
    S = ferry_test_lib:connect(?config(port, Config)),
    ferry_test_lib:send_request(S, request("GET", "/early")),
    ?assertMatch({500, _}, ferry_test_lib:recv_head(S, 10000)),
    gen_tcp:close(S),
    R = ferry_test_lib:await_log(fun(#{what := handler_failed}) -> true; (_) -> false end, 5000),
    ?assertMatch(#{bad_return := {103, _, _}}, R).

%% ferry_req:reply/4 with 103 sends the informational head and lets the
%% handler answer; to an HTTP/1.0 client only the final answer goes.
informational_then_final(Config) ->
    Port = ?config(port, Config),
    S = ferry_test_lib:connect(Port),
    ferry_test_lib:send_request(S, request("GET", "/hints")),
    {103, Hints} = ferry_test_lib:recv_head(S, 10000),
    ?assertEqual(link(), proplists:get_value(<<"link">>, Hints)),
    ?assertMatch({200, _, <<"final">>}, ferry_test_lib:recv_response(S, 10000)),
    gen_tcp:close(S),
    ?assertMatch({200, _, <<"final">>},
                 ferry_test_lib:raw(Port, <<"GET /hints HTTP/1.0\r\n\r\n">>)).

%%% Port exits

%% A frame over max_frame makes Rust exit with EXIT_BAD_FRAME; the report
%% names it. (The BEAM never sends one now; the test writes it to the port
%% itself.)
exit_code_logged(_Config) ->
    %% The smallest send_window with the smallest max_frame that fits it.
    _ = ferry_test_lib:start(hostile_tiny, #{routes => routes(), max_frame => 2048,
                                             send_window => 2048}),
    OsPid = ferry:os_pid(hostile_tiny),
    Owner = ferry_test_lib:port_owner(hostile_tiny),
    [Port] = [P || P <- erlang:ports(), erlang:port_info(P, connected) =:= {connected, Owner}],
    %% Small enough to fit in the pipe at once: Rust reads its length, exits,
    %% and its exit status reaches the port.
    true = erlang:port_command(Port, binary:copy(<<0>>, 4000)),
    R = ferry_test_lib:await_log(fun(#{what := port_down}) -> true; (_) -> false end, 5000),
    ?assertEqual({exit_status, 3}, maps:get(reason, R)),
    Line = format(R),
    ct:pal("~ts", [Line]),
    ?assertNotEqual(nomatch, string:find(Line, "EXIT_BAD_FRAME")),
    ?assertNotEqual(nomatch, string:find(Line, "max_frame")),
    ferry_test_lib:wait_until(fun() ->
                                      New = ferry:os_pid(hostile_tiny),
                                      is_integer(New) andalso New =/= OsPid
                              end, 10000).

format(Report) ->
    {Format, Args} = ferry_log:format(Report),
    unicode:characters_to_list(io_lib:format(Format, Args)).

%%% Uploads in 1-byte chunks

%% 4 clients each PUT 3,000,000 bytes as `1\r\nx\r\n' chunks (18 MB on the
%% wire). Each body frame costs its grant 512 bytes more than its data, so
%% at most body_window / 513 frames are in flight per request: the port
%% owner's mailbox and the VM's memory stay bounded. Before (the BEAM gave
%% back only data bytes, Rust sent a frame per chunk) up to a body window
%% of 1-byte messages, a million per request, piled up.
upload_1byte_chunks(_Config) ->
    Port = ferry_test_lib:start(hostile_upload, #{routes => routes()}),
    Owner = ferry_test_lib:port_owner(hostile_upload),
    Bytes = 3000000,
    Block = binary:copy(<<"1\r\nx\r\n">>, 10000),
    erlang:garbage_collect(),
    Before = erlang:memory(total),
    MemoryBound = 64 * ?MiB,
    QueueBound = 10000,
    Test = self(),
    Sampler = spawn_link(fun() -> sample(Test, Owner, Before, MemoryBound, QueueBound, {0, 0}) end),
    Started = erlang:monotonic_time(millisecond),
    Clients = [spawn_link(fun() -> Test ! {self(), upload(Port, Block, Bytes div 10000)} end)
               || _ <- lists:seq(1, 4)],
    Answers = [receive
                   {C, Answer} -> Answer;
                   {bound_crossed, What, Value, Peaks} ->
                       ct:fail("~p reached ~p (bound crossed) after ~p ms; peaks ~p",
                               [What, Value, erlang:monotonic_time(millisecond) - Started, Peaks])
               after 120000 ->
                       ct:fail(upload_hung)
               end || C <- Clients],
    Sampler ! {done, self()},
    {PeakMemory, PeakQueue} = receive {peaks, P} -> P after 5000 -> ct:fail(no_sampler) end,
    ct:pal("4 uploads of ~p bytes in 1-byte chunks: ~p ms; peak VM memory growth ~.1f MiB "
           "(bound ~p MiB), peak port owner queue ~p (bound ~p)",
           [Bytes, erlang:monotonic_time(millisecond) - Started, (PeakMemory - Before) / ?MiB,
            MemoryBound div ?MiB, PeakQueue, QueueBound]),
    [?assertMatch({200, _, _}, A) || A <- Answers],
    [?assertEqual(integer_to_binary(Bytes), Body) || {_, _, Body} <- Answers].

upload(Port, Block, Blocks) ->
    {ok, S} = gen_tcp:connect({127, 0, 0, 1}, Port,
                              [binary, {active, false}, {send_timeout, 60000}], 5000),
    ok = gen_tcp:send(S, request("PUT", "/count", "transfer-encoding: chunked\r\n")),
    [ok = gen_tcp:send(S, Block) || _ <- lists:seq(1, Blocks)],
    ok = gen_tcp:send(S, <<"0\r\n\r\n">>),
    Response = ferry_test_lib:recv_response(S, 60000),
    gen_tcp:close(S),
    Response.

%% Every 50 ms: the VM's memory and the port owner's queue; tells the test
%% at once when one crosses its bound.
sample(Test, Owner, Before, MemoryBound, QueueBound, {Memory0, Queue0}) ->
    Memory = max(Memory0, erlang:memory(total)),
    Queue = case erlang:process_info(Owner, message_queue_len) of
                {message_queue_len, Q} -> max(Queue0, Q);
                undefined -> Queue0
            end,
    if
        Memory - Before > MemoryBound -> Test ! {bound_crossed, memory_growth, Memory - Before, {Memory, Queue}};
        Queue > QueueBound -> Test ! {bound_crossed, owner_queue, Queue, {Memory, Queue}};
        true -> ok
    end,
    receive {done, From} -> From ! {peaks, {Memory, Queue}}
    after 50 -> sample(Test, Owner, Before, MemoryBound, QueueBound, {Memory, Queue})
    end.

%%% Helpers

request(Method, Path) -> request(Method, Path, "").

request(Method, Path, Extra) ->
    [Method, " ", Path, " HTTP/1.1\r\nhost: x\r\n", Extra, "\r\n"].

get(S, Path) ->
    ferry_test_lib:send_request(S, request("GET", Path)),
    ferry_test_lib:recv_response(S, 10000).

%% Reads Size body bytes in pieces of at most 1 MiB, each all Byte;
%% returns how many were right.
recv_all_of(S, Byte, Size) ->
    Ref = binary:copy(<<Byte>>, ?MiB),
    recv_all_of(S, Ref, Size, 0).

recv_all_of(_S, _Ref, 0, Good) ->
    Good;
recv_all_of(S, Ref, Left, Good) ->
    {ok, Piece} = gen_tcp:recv(S, min(Left, ?MiB), 30000),
    N = byte_size(Piece),
    ?assertEqual(binary:part(Ref, 0, N), Piece),
    recv_all_of(S, Ref, Left - N, Good + N).

%% Resident memory of an OS process, in bytes.
vm_rss(OsPid) ->
    {ok, Status} = file:read_file("/proc/" ++ integer_to_list(OsPid) ++ "/status"),
    {match, [Kb]} = re:run(Status, "VmRSS:\\s+(\\d+) kB", [{capture, all_but_first, binary}]),
    binary_to_integer(Kb) * 1024.
