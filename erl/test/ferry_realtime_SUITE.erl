%% The real-time half under hostile load (issue 22): a publish flood and a
%% chat flood do not make the heartbeat take a busy Rust process for hung,
%% and bystanders are answered meanwhile; a stopped Rust process is
%% restarted while a publisher writes to it, and info/1 answers meanwhile;
%% an exit the heartbeat caused is named so; bodies, chunks and frames
%% built as deeply nested iolists are sent.
-module(ferry_realtime_SUITE).
-include_lib("common_test/include/ct.hrl").
-include_lib("stdlib/include/assert.hrl").

-export([all/0, init_per_suite/1, end_per_suite/1, init_per_testcase/2, end_per_testcase/2]).
-export([publish_flood_is_no_hang/1, chat_flood_is_no_hang/1, publishers_wait_for_the_window/1,
         stopped_port_restarted_under_publisher/1, deep_iolists_are_sent/1]).
-export([upgrade/1, websocket_init/1, websocket_handle/2, websocket_info/2]).

%% The heartbeat of the flood cases: a tenth of the default, so a pile of
%% more than a second of work behind a `stats' would be taken for a hang.
-define(HEARTBEAT, 1000).
%% A bystander's p99 while a flood runs. A response waits behind at most
%% the publish window (2048 socket writes, ~10 ms here) and a turn of the
%% loop (4096 writes): measured 38-45 ms here, where the clients, the
%% publisher and the VM share the 2 CPUs with the server. The bound is ten
%% times that, for a noisy machine. Before the window a bystander waited
%% for the whole flood (~30 s) and the heartbeat killed the Rust process.
-define(P99_MS, 500).

all() ->
    [deep_iolists_are_sent, publishers_wait_for_the_window, stopped_port_restarted_under_publisher,
     publish_flood_is_no_hang, chat_flood_is_no_hang].

init_per_suite(Config) ->
    ferry_test_lib:init_per_suite(Config).

end_per_suite(Config) ->
    ferry_test_lib:end_per_suite(Config).

init_per_testcase(_Case, Config) ->
    erase(lines),
    ferry_test_lib:capture_logs(),
    Config.

end_per_testcase(_Case, _Config) ->
    _ = ferry:stop_listener(rt),
    ferry_test_lib:stop_capture().

start(Opts) ->
    ferry_test_lib:start(rt, maps:merge(#{routes => routes(), heartbeat_timeout => ?HEARTBEAT}, Opts)).

routes() ->
    [{<<"GET">>, <<"/ok">>, fun(_) -> {200, [], <<"ok">>} end},
     {<<"GET">>, <<"/ws/:mode/:group">>, fun ?MODULE:upgrade/1},
     %% A small body as the fold every Erlang programmer writes: 3000 deep.
     {<<"GET">>, <<"/deep">>, fun(_) -> {200, [], deep(3000)} end},
     {<<"GET">>, <<"/deep_stream">>,
      fun(Req0) ->
              Req = ferry_req:stream_reply(200, [], Req0),
              _ = ferry_req:stream_body(deep(3000), nofin, Req),
              {done, ferry_req:stream_body(deep(3000), fin, Req)}
      end}].

%% [[[[[], <<"1">>], <<"2">>], ...]: each element one level deeper.
deep(N) ->
    lists:foldl(fun(X, A) -> [A, integer_to_binary(X rem 10)] end, [], lists:seq(1, N)).

deep_bytes(N) -> iolist_to_binary(deep(N)).

%%% The WebSocket handler: `member' joins the group and stays quiet,
%%% `room' also publishes what it is sent to the rest of the group, and
%%% `deep' answers with a deeply nested frame.

upgrade(Req) ->
    {websocket, ?MODULE, #{mode => ferry_req:binding(mode, Req), group => ferry_req:binding(group, Req)}}.

websocket_init(#{mode := <<"deep">>} = S) ->
    {ok, S};
websocket_init(#{group := Group} = S) ->
    ok = ferry_ws:join(Group),
    {ok, S}.

websocket_handle({text, <<"deep">>}, #{mode := <<"deep">>} = S) ->
    {reply, {text, deep(3000)}, S};
websocket_handle({text, Text}, #{mode := <<"room">>, group := Group} = S) ->
    ok = ferry_ws:publish_from(Group, [{text, Text}]),
    {ok, S};
websocket_handle(_Frame, S) ->
    {ok, S}.

websocket_info(_Info, S) ->
    {ok, S}.

%%% Cases

%% A body, two stream chunks and a WebSocket frame, each an iolist 3000
%% deep (deeper than the 1024 Rust reads as a term): sent whole, at once.
deep_iolists_are_sent(_Config) ->
    Port = start(#{}),
    Want = deep_bytes(3000),
    ?assertMatch({200, _, Want}, ferry_test_lib:raw(Port, <<"GET /deep HTTP/1.1\r\nhost: x\r\n\r\n">>)),
    Both = <<Want/binary, Want/binary>>,
    ?assertMatch({200, _, Both},
                 ferry_test_lib:raw(Port, <<"GET /deep_stream HTTP/1.1\r\nhost: x\r\n\r\n">>)),
    {ok, S, _} = ferry_ws_client:connect(Port, <<"/ws/deep/none">>),
    ferry_ws_client:send(S, text, <<"deep">>),
    ?assertEqual({text, Want}, ferry_ws_client:recv(S, 5000)),
    ferry_ws_client:close(S).

%% A publisher that outruns the Rust process waits for the publish window
%% and loses nothing: 2,000 publishes to 200 members with a window of 2
%% socket writes (one publish at a time, once Rust has said what one
%% costs) reach every member, in order, and the window held it back.
publishers_wait_for_the_window(_Config) ->
    Port = start(#{publish_window => 2}),
    Members = [member(Port, <<"w">>) || _ <- lists:seq(1, 200)],
    settle(Port, <<"w">>, Members),
    Self = self(),
    N = 2000,
    Publisher = spawn_link(fun() ->
                                   [ok = ferry_ws:publish(rt, <<"w">>, [{text, integer_to_binary(I)}])
                                    || I <- lists:seq(1, N)],
                                   Self ! published
                           end),
    %% Some of the time, the publisher is found waiting on the port owner.
    Waited = sample_waiting(Publisher, ferry_test_lib:port_owner(rt), 0),
    receive published -> ok after 60000 -> ct:fail(publisher_stuck) end,
    ct:log("publisher seen waiting for the window ~p times", [Waited]),
    ?assert(Waited > 0),
    Want = iolist_to_binary([frame(integer_to_binary(I)) || I <- lists:seq(1, N)]),
    [?assertEqual(Want, recv_bytes(S, byte_size(Want))) || S <- Members],
    ?assertMatch(#{restarts := 0}, ferry:info(rt)).

sample_waiting(Pid, Owner, Seen) ->
    case erlang:process_info(Pid, [status, current_function, dictionary]) of
        undefined ->
            Seen;
        Info ->
            Waiting = lists:keyfind(status, 1, Info) =:= {status, waiting}
                andalso in_call_to(Owner, Info),
            erlang:yield(),
            sample_waiting(Pid, Owner, Seen + case Waiting of true -> 1; false -> 0 end)
    end.

in_call_to(_Owner, Info) ->
    %% gen:do_call waits in a receive; the publisher calls nothing else.
    case lists:keyfind(current_function, 1, Info) of
        {_, {gen, do_call, _}} -> true;
        _ -> false
    end.

%% A stopped Rust process (kill -STOP) while a publisher writes to it: the
%% port's queue fills and the publisher is suspended, but the port owner
%% is not (it never writes to its port itself): info/1 answers, and the
%% heartbeat kills and restarts the process within heartbeat_timeout and a
%% second. The exit is named as the heartbeat's kill.
stopped_port_restarted_under_publisher(_Config) ->
    Port = start(#{}),
    _Members = [member(Port, <<"s">>) || _ <- lists:seq(1, 20)],
    OsPid = ferry:os_pid(rt),
    Msg = binary:copy(<<"m">>, 100),
    Publisher = spawn_link(fun Loop() -> ferry_ws:publish(rt, <<"s">>, [{text, Msg}]), Loop() end),
    timer:sleep(200),
    Stopped = erlang:monotonic_time(millisecond),
    os:cmd("kill -STOP " ++ integer_to_list(OsPid)),
    try
        ?assertMatch(#{port := Port, os_pid := OsPid}, ferry_test_lib:info_within(rt, 3000)),
        ?assertEqual(OsPid, ferry:os_pid(rt)),
        ferry_test_lib:wait_until(
          fun() -> not lists:member(ferry:os_pid(rt), [OsPid, undefined]) end, ?HEARTBEAT + 1000),
        Restarted = erlang:monotonic_time(millisecond) - Stopped,
        ct:log("restarted ~p ms after the stop", [Restarted]),
        ?assertMatch({200, _, <<"ok">>}, ferry_test_lib:raw(Port, <<"GET /ok HTTP/1.1\r\nhost: x\r\n\r\n">>)),
        ferry_test_lib:wait_until(fun() -> has_line("killed by the heartbeat") end, 2000)
    after
        unlink(Publisher),
        exit(Publisher, kill),
        os:cmd("kill -CONT " ++ integer_to_list(OsPid))
    end.

%% 30 s of a VM process publishing 100-byte messages in a tight loop to
%% 1,000 members that read all the while: the Rust process is never taken
%% for hung, and a bystander's requests are answered meanwhile. The
%% members are an OS process of their own (flood.py), as real clients are.
publish_flood_is_no_hang(Config) ->
    Port = start(#{}),
    Clients = clients(Config, read, Port, <<"/ws/member/flood">>, 1000, 30),
    timer:sleep(500),   % the members' joins, sent from their handlers
    OsPid = ferry:os_pid(rt),
    Self = self(),
    Msg = binary:copy(<<"f">>, 100),
    Publisher = spawn_link(fun() -> publish_loop(Self, Msg, 0) end),
    Latencies = bystander(Port, 29000),
    {Open, _, Read} = clients_done(Clients),
    Publisher ! stop,
    Published = receive {published, P} -> P after 10000 -> ct:fail(publisher_stuck) end,
    ct:log("~p publishes; the members read ~p MB; ~p of 1000 still open",
           [Published, Read div 1000000, Open]),
    no_restart(OsPid),
    ?assert(Published > 1000),
    p99_under(Latencies).

publish_loop(Test, Msg, N) ->
    receive stop -> Test ! {published, N}
    after 0 ->
            ok = ferry_ws:publish(rt, <<"flood">>, [{text, Msg}]),
            publish_loop(Test, Msg, N + 1)
    end.

%% 200 clients of one room each send as fast as they can, and each
%% message is published to the other 199 (as the demo's chat does), for
%% 20 s: no restart, and a bystander is answered meanwhile.
chat_flood_is_no_hang(Config) ->
    Port = start(#{}),
    Clients = clients(Config, chat, Port, <<"/ws/room/chat">>, 200, 20),
    OsPid = ferry:os_pid(rt),
    Latencies = bystander(Port, 19000),
    {Open, Sent, Read} = clients_done(Clients),
    ct:log("the chat clients sent ~p messages and read ~p MB; ~p of 200 still open",
           [Sent, Read div 1000000, Open]),
    no_restart(OsPid),
    ?assert(Sent > 1000),
    p99_under(Latencies).

%% flood.py (see there) with `Count' connections for `Seconds'; returns
%% once they are all open.
clients(Config, Mode, Port, Path, Count, Seconds) ->
    Script = filename:join(?config(data_dir, Config), "flood.py"),
    P = open_port({spawn_executable, os:find_executable("python3")},
                  [{args, [Script, atom_to_list(Mode), integer_to_list(Port), Path,
                           integer_to_list(Count), integer_to_list(Seconds)]},
                   {line, 200}, exit_status, use_stdio]),
    receive {P, {data, {eol, "ready"}}} -> P
    after 60000 -> ct:fail(clients_not_ready)
    end.

clients_done(P) ->
    receive
        {P, {data, {eol, "done " ++ Counts}}} ->
            [Open, Sent, Read] = [list_to_integer(N) || N <- string:lexemes(Counts, " ")],
            {Open, Sent, Read};
        {P, {exit_status, Status}} ->
            ct:fail({clients_exited, Status})
    after 60000 -> ct:fail(clients_not_done)
    end.

%%% Helpers

member(Port, Group) -> member(Port, <<"member">>, Group).

member(Port, Mode, Group) ->
    {ok, S, _} = ferry_ws_client:connect(Port, [<<"/ws/">>, Mode, $/, Group]),
    S.

%% Every member has joined: a publish reaches them all. (Each joins from
%% its handler after the 101, so the joins are given time first.)
settle(_Port, Group, Members) ->
    timer:sleep(1000),
    ok = ferry_ws:publish(rt, Group, [{text, <<"ready">>}]),
    Ready = frame(<<"ready">>),
    [?assertEqual(Ready, recv_bytes(S, byte_size(Ready))) || S <- Members],
    ok.

frame(Text) when byte_size(Text) < 126 -> <<1:1, 0:3, 1:4, 0:1, (byte_size(Text)):7, Text/binary>>.

recv_bytes(S, N) ->
    {ok, Bytes} = gen_tcp:recv(S, N, 30000),
    Bytes.

%% Request round trips on one keep-alive connection for `Ms', one every
%% 10 ms: their latencies in ms.
bystander(Port, Ms) ->
    S = ferry_test_lib:connect(Port),
    Until = erlang:monotonic_time(millisecond) + Ms,
    bystander_loop(S, Until, []).

bystander_loop(S, Until, Acc) ->
    case erlang:monotonic_time(millisecond) >= Until of
        true ->
            gen_tcp:close(S),
            Acc;
        false ->
            T0 = erlang:monotonic_time(microsecond),
            ferry_test_lib:send_request(S, <<"GET /ok HTTP/1.1\r\nhost: x\r\n\r\n">>),
            {200, _, <<"ok">>} = ferry_test_lib:recv_response(S, 30000),
            Us = erlang:monotonic_time(microsecond) - T0,
            timer:sleep(10),
            bystander_loop(S, Until, [Us / 1000 | Acc])
    end.

p99_under(Latencies) ->
    Sorted = lists:sort(Latencies),
    N = length(Sorted),
    P50 = lists:nth(max(1, N div 2), Sorted),
    P99 = lists:nth(max(1, (N * 99) div 100), Sorted),
    ct:log("bystander: ~p requests, p50 ~.2f ms, p99 ~.2f ms, max ~.2f ms",
           [N, P50, P99, lists:last(Sorted)]),
    ?assert(N > 100),
    ?assert(P99 =< ?P99_MS).

no_restart(OsPid) ->
    Info = ferry:info(rt),
    ct:log("info: ~p", [Info]),
    ?assertMatch(#{restarts := 0, os_pid := OsPid}, Info),
    ?assertNot(has_line("did not answer")).

%% Has ferry logged a line with Text (captured since the case began; the
%% lines read are kept for the next call)?
has_line(Text) ->
    Lines = logged(get(lines)),
    put(lines, Lines),
    lists:any(fun(Line) -> string:find(Line, Text) =/= nomatch end, Lines).

logged(undefined) -> logged([]);
logged(Lines) ->
    receive
        {ferry_log, _Level, {report, Report}, _Meta} ->
            {Format, Args} = ferry_log:format(Report),
            logged([lists:flatten(io_lib:format(Format, Args)) | Lines])
    after 0 -> Lines
    end.
