-module(ferry_opts_tests).
-include_lib("eunit/include/eunit.hrl").

h() -> fun(_) -> {200, [], <<>>} end.

defaults_filled_test() ->
    {ok, V} = ferry_opts:validate(#{handler => h()}),
    Defaults = ferry_opts:defaults(),
    ?assertEqual(maps:get(shards, Defaults), maps:get(shards, V)),
    ?assertEqual(maps:get(request_timeout, Defaults), maps:get(request_timeout, V)),
    ?assertEqual(maps:get(restart_backoff, Defaults), maps:get(restart_backoff, V)),
    ?assertEqual(ferry_opts:default_binary(), maps:get(binary, V)),
    %% A listener's port is the BEAM's choice (8080, not Rust's "any free
    %% port"); the rest of Rust's defaults are Rust's.
    ?assertEqual(#{port => 8080}, maps:get(listen, V)).

rust_keys_pass_through_test() ->
    {ok, V} = ferry_opts:validate(#{handler => h(), port => 0, ip => "127.0.0.1",
                                    max_body => 10, reuseport => true, shards => 2}),
    ?assertEqual(#{port => 0, ip => <<"127.0.0.1">>, max_body => 10, reuseport => true},
                 maps:get(listen, V)),
    ?assertEqual(2, maps:get(shards, V)).

ip_forms_test() ->
    ?assertMatch({ok, _}, ferry_opts:validate(#{handler => h(), ip => {127, 0, 0, 1}})),
    ?assertMatch({ok, _}, ferry_opts:validate(#{handler => h(), ip => {0, 0, 0, 0, 0, 0, 0, 1}})),
    ?assertMatch({ok, _}, ferry_opts:validate(#{handler => h(), ip => <<"::1">>})).

bad_options_test_() ->
    Cases = [{nope, #{nope => 1}},
             {"str", #{"str" => 1}},
             {port, #{port => 70000}},
             {port, #{port => -1}},
             {port, #{port => "80"}},
             {ip, #{ip => {1, 2, 3}}},
             {ip, #{ip => 42}},
             {shards, #{shards => 0}},
             {shards, #{shards => many}},
             {restart_backoff, #{restart_backoff => {100, 10}}},
             {restart_backoff, #{restart_backoff => 5}},
             {request_timeout, #{request_timeout => 0}},
             {drain_timeout, #{drain_timeout => -1}},
             {binary, #{binary => 42}},
             {max_body, #{max_body => -5}},
             {reuseport, #{reuseport => yes}},
             {routes, #{routes => [{<<"GET">>, <<"x">>, h()}]}},
             {handler, #{handler => 42}}],
    [?_assertEqual({error, {bad_option, Key}}, ferry_opts:validate(Opts#{handler => maps:get(handler, Opts, h())}))
     || {Key, Opts} <- Cases].

needs_routes_or_handler_test() ->
    ?assertEqual({error, {bad_option, handler}}, ferry_opts:validate(#{})),
    ?assertMatch({ok, _}, ferry_opts:validate(#{routes => [{<<"GET">>, <<"/">>, h()}]})),
    ?assertEqual({error, {bad_option, opts}}, ferry_opts:validate([])).

child_spec_raises_test() ->
    ?assertError({bad_option, port}, ferry:child_spec(x, #{handler => h(), port => -1})),
    ?assertMatch(#{id := {ferry_listener, x}, type := supervisor},
                 ferry:child_spec(x, #{handler => h()})).

explain(Opts) ->
    {error, Bad} = ferry_opts:validate(Opts),
    unicode:characters_to_list(ferry_opts:explain(Bad, Opts)).

has(Text, Part) -> string:find(Text, Part) =/= nomatch.

%% An unknown key and a bad value read differently, and say what is allowed.
explain_test_() ->
    [?_assert(has(explain(#{handler => h(), prot => 80}), "unknown option prot; the options are ")),
     ?_assert(has(explain(#{handler => h(), prot => 80}), "port")),
     ?_assert(has(explain(#{handler => h(), shards => 0}), "option shards => 0 must be an integer 1..64")),
     ?_assert(has(explain(#{handler => h(), port => "80"}), "option port => \"80\" must be an integer 0..65535")),
     ?_assert(has(explain(#{handler => h(), request_timeout => -1}), "positive integer (ms) or infinity")),
     ?_assert(has(explain(#{}), "no handler and no routes")),
     ?_assert(has(explain(not_a_map), "must be a map"))].

%% A wrong route: which one (its position and itself) and why.
explain_routes_test_() ->
    H = h(),
    Route = fun(R) -> explain(#{routes => [{<<"GET">>, <<"/ok">>, H}, R]}) end,
    [?_assert(has(Route({get, <<"/a">>, H}), "route 2, {get,<<\"/a\">>,")),
     ?_assert(has(Route({get, <<"/a">>, H}), "the method must be a binary token")),
     ?_assert(has(Route({<<"GET">>, "/a", H}), "the path must be a binary")),
     ?_assert(has(Route({<<"GET">>, <<"a">>, H}), "must start with /")),
     ?_assert(has(Route({<<"GET">>, <<"/a">>, no_such_module_x}), "no_such_module_x")),
     ?_assert(has(Route({<<"GET">>, <<"/a">>, no_such_module_x}), "a module exporting handle/1")),
     ?_assert(has(Route({<<"GET">>, <<"/:a/:a">>, H}), "bound twice")),
     ?_assert(has(Route({<<"GET">>, <<"/[...]/a">>, H}), "[...] may only be the last")),
     ?_assert(has(Route(not_a_route), "a route is {Method, Path, Handler}")),
     ?_assert(has(explain(#{handler => 42}), "handler 42 is not a module"))].

%% child_spec/2's error carries error_info: the shell says what is wrong.
child_spec_error_info_test() ->
    try ferry:child_spec(x, #{handler => h(), shards => 0}) of
        _ -> ?assert(false)
    catch error:{bad_option, shards} = Reason:Stack ->
            Text = lists:flatten(erl_error:format_exception(error, Reason, Stack)),
            ?assert(has(Text, "must be an integer 1..64"))
    end.

%% access_log (issue 12): off by default; on, it asks Rust for `sent'
%% events, unless the listener says no to them.
access_log_test() ->
    {ok, Off} = ferry_opts:validate(#{handler => h()}),
    ?assertEqual(false, maps:get(access_log, Off)),
    ?assertNot(maps:is_key(sent_events, maps:get(listen, Off))),
    {ok, On} = ferry_opts:validate(#{handler => h(), access_log => true}),
    ?assertEqual(true, maps:get(sent_events, maps:get(listen, On))),
    {ok, Notice} = ferry_opts:validate(#{handler => h(), access_log => notice, sent_events => false}),
    ?assertEqual(false, maps:get(sent_events, maps:get(listen, Notice))),
    ?assertEqual({error, {bad_option, access_log}},
                 ferry_opts:validate(#{handler => h(), access_log => loud})).
