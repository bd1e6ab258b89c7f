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
    %% Rust's defaults are Rust's: nothing is added to the listen config.
    ?assertEqual(#{}, maps:get(listen, V)).

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
