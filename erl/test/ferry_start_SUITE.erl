%% Starting and asking: a failed start returns its reason as documented
%% and logs one line that says why and what to do (no supervisor or crash
%% report); a listener in the user's own supervisor fails the same way;
%% info/1 answers during a back-off and from a hung Rust process, which is
%% detected, killed and restarted; asking about a listener that does not
%% run says so.
-module(ferry_start_SUITE).
-include_lib("common_test/include/ct.hrl").
-include_lib("stdlib/include/assert.hrl").

-export([all/0, init_per_suite/1, end_per_suite/1, init_per_testcase/2, end_per_testcase/2]).
-export([address_in_use_one_line/1, refused_option_one_line/1, bad_option_explained/1,
         missing_binary_says_how_to_build/1, own_supervisor_gets_the_reason/1,
         already_started/1, no_such_listener/1, info_during_backoff/1,
         hung_port_is_restarted/1]).

all() ->
    [address_in_use_one_line, refused_option_one_line, bad_option_explained,
     missing_binary_says_how_to_build, own_supervisor_gets_the_reason, already_started,
     no_such_listener, info_during_backoff, hung_port_is_restarted].

init_per_suite(Config) ->
    ferry_test_lib:init_per_suite(Config).

end_per_suite(Config) ->
    ferry_test_lib:end_per_suite(Config).

init_per_testcase(_Case, Config) ->
    ferry_test_lib:capture_all_logs(),
    Config.

end_per_testcase(_Case, _Config) ->
    _ = [ferry:stop_listener(L) || L <- [started, started_2, backoff, hung]],
    ferry_test_lib:stop_capture().

opts() ->
    #{ip => <<"127.0.0.1">>, port => 0, handler => fun(_) -> {200, [], <<"ok">>} end}.

%% Every event logged until things settle (no event for 300 ms).
logged() ->
    receive {any_log, Level, Msg, Meta} -> [{Level, text(Msg, Meta)} | logged()]
    after 300 -> []
    end.

text({report, Report}, #{report_cb := Cb}) when is_function(Cb, 1) ->
    {Format, Args} = Cb(Report),
    lists:flatten(io_lib:format(Format, Args));
text({report, Report}, _Meta) ->
    lists:flatten(io_lib:format("~0p", [Report]));
text({string, S}, _Meta) ->
    unicode:characters_to_list(S);
text({Format, Args}, _Meta) ->
    lists:flatten(io_lib:format(Format, Args)).

has(Text, Part) -> string:find(Text, Part) =/= nomatch.

%% One event: ferry's line, at error level, saying Part.
assert_one_line(Part) ->
    Logged = logged(),
    ct:log("logged: ~p", [Logged]),
    ?assertMatch([{error, _}], Logged),
    [{error, Line}] = Logged,
    ?assert(has(Line, Part)),
    Line.

address_in_use_one_line(_Config) ->
    {ok, Taken} = gen_tcp:listen(0, [{ip, {127, 0, 0, 1}}]),
    {ok, Port} = inet:port(Taken),
    ?assertMatch({error, {listen_error, eaddrinuse, _}},
                 ferry:start_listener(started, (opts())#{port => Port})),
    assert_one_line("ferry listener started: could not start: cannot listen (eaddrinuse)"),
    gen_tcp:close(Taken).

refused_option_one_line(_Config) ->
    ?assertEqual({error, {bad_option, max_request_line}},
                 ferry:start_listener(started, (opts())#{max_request_line => 1})),
    assert_one_line("option max_request_line => 1 must be an integer 16..1048576"),
    %% The second shard's failure too (the first one is stopped again).
    ?assertEqual({error, {bad_option, max_request_line}},
                 ferry:start_listener(started, (opts())#{max_request_line => 1, shards => 2})),
    assert_one_line("must be an integer 16..1048576").

%% Refused before anything starts: unknown key and bad value read apart.
bad_option_explained(_Config) ->
    ?assertEqual({error, {bad_option, prot}}, ferry:start_listener(started, (opts())#{prot => 80})),
    Unknown = assert_one_line("unknown option prot; the options are "),
    ?assert(has(Unknown, "port")),
    ?assertEqual({error, {bad_option, shards}}, ferry:start_listener(started, (opts())#{shards => 0})),
    assert_one_line("option shards => 0 must be an integer 1..64"),
    Routes = [{<<"GET">>, <<"/a">>, fun(_) -> {200, [], <<>>} end},
              {'GET', <<"/b">>, fun(_) -> {200, [], <<>>} end}],
    ?assertEqual({error, {bad_option, routes}},
                 ferry:start_listener(started, maps:remove(handler, (opts())#{routes => Routes}))),
    assert_one_line("route 2, {'GET',<<\"/b\">>,").

missing_binary_says_how_to_build(_Config) ->
    Missing = "/nonexistent/ferry",
    ?assertEqual({error, {spawn_failed, Missing, enoent}},
                 ferry:start_listener(started, (opts())#{binary => Missing})),
    Line = assert_one_line("no ferry executable at /nonexistent/ferry: build it"),
    ?assert(has(Line, "make build")).

%% child_spec/2 in the user's supervisor: the same reason, the same line
%% (and no report from ferry's own supervisors).
own_supervisor_gets_the_reason(_Config) ->
    {ok, Sup} = supervisor:start_link(ferry_test_sup, []),
    try
        Spec = ferry:child_spec(started, (opts())#{max_request_line => 1}),
        ?assertMatch(#{id := {ferry_listener, started}}, Spec),
        ?assertMatch({error, {{bad_option, max_request_line}, _}},
                     supervisor:start_child(Sup, Spec)),
        assert_one_line("must be an integer 16..1048576"),
        %% And a good one stops with terminate_child and its id.
        {ok, _} = supervisor:start_child(Sup, ferry:child_spec(started, opts())),
        _ = logged(),
        ok = supervisor:terminate_child(Sup, {ferry_listener, started})
    after
        unlink(Sup),
        exit(Sup, shutdown)
    end.

already_started(_Config) ->
    {ok, _} = ferry:start_listener(started, opts()),
    ?assertEqual({error, already_started}, ferry:start_listener(started, opts())),
    %% The same name in the user's supervisor: the listener's supervisor,
    %% as supervisors answer it.
    {ok, Sup} = supervisor:start_link(ferry_test_sup, []),
    try
        ?assertMatch({error, {{already_started, Pid}, _}} when is_pid(Pid),
                     supervisor:start_child(Sup, ferry:child_spec(started, opts())))
    after
        unlink(Sup),
        exit(Sup, shutdown)
    end.

no_such_listener(_Config) ->
    [begin
         try Fun(nope) of
             Result -> ct:fail({no_error, Fun, Result})
         catch error:badarg:Stack ->
                 Text = lists:flatten(erl_error:format_exception(error, badarg, Stack)),
                 ?assert(has(Text, "no listener of this name runs"))
         end
     end || Fun <- [fun ferry:info/1, fun ferry:port_number/1, fun ferry:os_pid/1]].

%% Between a Rust process's death and its replacement there is no os pid:
%% info/1 says `undefined', as its spec does, and answers at once.
info_during_backoff(_Config) ->
    {ok, _} = ferry:start_listener(backoff, (opts())#{restart_backoff => {60000, 60000}}),
    OsPid = ferry:os_pid(backoff),
    ferry_test_lib:os_kill(OsPid),
    ferry_test_lib:wait_until(fun() -> ferry:os_pid(backoff) =:= undefined end, 10000),
    ?assertMatch(#{os_pid := undefined, phase := backoff, restarts := 1, requests := 0},
                 ferry:info(backoff)).

%% A stopped Rust process (kill -STOP) keeps its socket and serves
%% nothing. info/1 still answers its caller; the heartbeat finds it hung,
%% kills it and the listener serves again from a new one.
hung_port_is_restarted(_Config) ->
    {ok, _} = ferry:start_listener(hung, (opts())#{heartbeat_timeout => 300}),
    Port = ferry:port_number(hung),
    OsPid = ferry:os_pid(hung),
    _ = logged(),
    os:cmd("kill -STOP " ++ integer_to_list(OsPid)),
    try
        ?assertMatch(#{port := Port, restarts := _}, ferry_test_lib:info_within(hung, 4500)),
        ferry_test_lib:wait_until(
          fun() -> not lists:member(ferry:os_pid(hung), [OsPid, undefined]) end, 10000),
        ?assertMatch({200, _, <<"ok">>},
                     ferry_test_lib:raw(Port, <<"GET / HTTP/1.1\r\nhost: x\r\n\r\n">>)),
        Lines = [L || {_, L} <- logged()],
        ct:log("logged: ~p", [Lines]),
        ?assert(lists:any(fun(L) -> has(L, "did not answer a stats request within 300 ms") end,
                          Lines)),
        ?assertNot(ferry_test_lib:os_alive(OsPid))
    after
        os:cmd("kill -CONT " ++ integer_to_list(OsPid))
    end.
