%% Depending on Ferry with rebar3, as a newcomer does: a fresh rebar3 app
%% in a temporary directory, Ferry in its _checkouts (the repository's
%% root, or its erl/), `rebar3 compile' and nothing else. The compile
%% builds the Rust half with cargo and installs it under the app's _build,
%% not in Ferry's source tree; a VM started from that _build serves a
%% request.
%%
%% Cargo's target directory is the repository's own (CARGO_TARGET_DIR), so
%% cargo has nothing to redo; where it goes by default (_build/ferry_cargo)
%% costs a whole release build, and is a manual check (README.md).
-module(ferry_rebar3_SUITE).
-include_lib("common_test/include/ct.hrl").
-include_lib("stdlib/include/assert.hrl").
-include_lib("kernel/include/file.hrl").

-export([all/0, suite/0]).
-export([checkout_of_the_root/1, checkout_of_erl/1]).

suite() ->
    [{timetrap, {minutes, 5}}].

all() ->
    [checkout_of_the_root, checkout_of_erl].

%% The repository: this file is erl/test/ferry_rebar3_SUITE.erl.
repo() ->
    filename:dirname(filename:dirname(filename:dirname(filename:absname(?FILE)))).

checkout_of_the_root(Config) ->
    depend_and_serve(Config, repo(), "newapp_root").

checkout_of_erl(Config) ->
    depend_and_serve(Config, filename:join(repo(), "erl"), "newapp_erl").

depend_and_serve(Config, Checkout, Name) ->
    Repo = repo(),
    App = filename:join(?config(priv_dir, Config), Name),
    ok = filelib:ensure_dir(filename:join([App, "src", "x"])),
    ok = filelib:ensure_dir(filename:join([App, "_checkouts", "x"])),
    ok = file:make_symlink(Checkout, filename:join([App, "_checkouts", "ferry"])),
    ok = file:write_file(filename:join(App, "rebar.config"), "{deps, [ferry]}.\n"),
    ok = file:write_file(filename:join([App, "src", "newapp.app.src"]),
                         "{application, newapp, [{description, \"a new user's app\"}, "
                         "{vsn, \"0.1.0\"}, {applications, [kernel, stdlib, ferry]}]}.\n"),
    Before = source_state(Repo),
    {0, Output} = run(os:find_executable("rebar3"), ["compile"], App,
                      [{"CARGO_TARGET_DIR", filename:join(Repo, "target")}]),
    ct:log("rebar3 compile:~n~ts", [Output]),
    Built = filename:join([App, "_build", "default", "checkouts", "ferry"]),
    Binary = filename:join([Built, "priv", "ferry"]),
    ?assert(filelib:is_regular(Binary)),
    %% priv/ is a directory of _build's own, not a link into the checkout.
    ?assertMatch({ok, #file_info{type = directory}},
                 file:read_link_info(filename:join(Built, "priv"))),
    %% Nothing written into Ferry's source tree.
    ?assertEqual(Before, source_state(Repo)),
    Eval = "{ok, _} = application:ensure_all_started(ferry),"
           "{ok, _} = ferry:start_listener(x, #{ip => <<\"127.0.0.1\">>, port => 0,"
           "    handler => fun(_) -> {200, [], <<\"served by ferry\">>} end}),"
           "{ok, S} = gen_tcp:connect({127, 0, 0, 1}, ferry:port_number(x),"
           "                          [binary, {active, false}]),"
           "ok = gen_tcp:send(S, <<\"GET / HTTP/1.1\\r\\nhost: x\\r\\n\\r\\n\">>),"
           "{ok, R} = gen_tcp:recv(S, 0, 10000),"
           "io:format(\"~s~npriv ~s~n\", [R, code:priv_dir(ferry)]),"
           "halt().",
    {0, Served} = run(os:find_executable("erl"),
                      ["-noshell", "-pa", filename:join(Built, "ebin"), "-eval", Eval], App, []),
    ct:log("the new app's VM:~n~ts", [Served]),
    ?assertNotEqual(nomatch, string:find(Served, "served by ferry")),
    ?assertNotEqual(nomatch, string:find(Served, "priv " ++ filename:join(Built, "priv"))).

%% What a build could have written: priv directories and their files.
source_state(Repo) ->
    lists:sort([{P, filelib:last_modified(P)}
                || Dir <- ["priv", "erl/priv"],
                   P <- [filename:join(Repo, Dir) | filelib:wildcard(filename:join([Repo, Dir, "*"]))],
                   filelib:is_file(P)]).

run(Exe, Args, Dir, Env) ->
    Port = open_port({spawn_executable, Exe},
                     [{args, Args}, {cd, Dir}, {env, Env}, exit_status, stderr_to_stdout,
                      binary]),
    collect(Port, []).

collect(Port, Acc) ->
    receive
        {Port, {data, Data}} -> collect(Port, [Acc | Data]);
        {Port, {exit_status, Status}} -> {Status, unicode:characters_to_list(iolist_to_binary(Acc))}
    after 240000 ->
            ct:fail("no exit within 4 minutes: ~ts", [iolist_to_binary(Acc)])
    end.
