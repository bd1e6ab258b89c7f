%% Routing, bindings, 404/405, query parsing and the request map, through a
%% real listener and real clients; plus option errors at start.
-module(ferry_routing_SUITE).
-include_lib("common_test/include/ct.hrl").
-include_lib("stdlib/include/assert.hrl").

-export([all/0, init_per_suite/1, end_per_suite/1]).
-export([bindings_and_path_info/1, not_found/1, method_not_allowed/1, head_via_get/1,
         query_parsing/1, request_map/1, inline_body_echo/1, module_handler/1,
         catch_all/1, map_headers_and_iolist_body/1, keep_alive_many/1, info_counts/1,
         bad_options/1, port_rejects_option/1, address_in_use/1, options_match_port/1,
         stop_unknown/1, ipv6_and_tuple_ip/1, uri_table/1]).
-behaviour(ferry_handler).
-export([handle/1]).

all() ->
    [bindings_and_path_info, not_found, method_not_allowed, head_via_get, query_parsing,
     request_map, inline_body_echo, module_handler, catch_all, map_headers_and_iolist_body,
     keep_alive_many, info_counts, bad_options, port_rejects_option, address_in_use,
     options_match_port, stop_unknown, ipv6_and_tuple_ip, uri_table].

init_per_suite(Config0) ->
    Config = ferry_test_lib:init_per_suite(Config0),
    Routes = [{<<"GET">>, <<"/users/:id">>, fun user/1},
              {<<"DELETE">>, <<"/users/:id">>, fun user/1},
              {<<"GET">>, <<"/users/:id/files/[...]">>, fun files/1},
              {<<"GET">>, <<"/qs">>, fun qs/1},
              {'_', <<"/echo">>, fun echo/1},
              {<<"GET">>, <<"/module">>, ?MODULE},
              {<<"GET">>, <<"/fancy">>, fun fancy/1},
              {<<"GET">>, <<"/table/[...]">>, fun table/1}],
    Port = ferry_test_lib:start(routing, #{routes => Routes}),
    [{port, Port} | Config].

end_per_suite(Config) ->
    ok = ferry:stop_listener(routing),
    ferry_test_lib:end_per_suite(Config).

%%% Handlers

user(Req) ->
    Id = ferry_req:binding(<<"id">>, Req),
    {200, [{<<"content-type">>, <<"text/plain">>}],
     [maps:get(method, Req), <<" user ">>, Id]}.

files(Req) ->
    Body = lists:join(<<"|">>, ferry_req:path_info(Req)),
    {200, [], [ferry_req:binding(id, Req), <<":">>, Body]}.

qs(Req) ->
    {200, [], term_to_binary(ferry_req:parse_qs(Req))}.

echo(Req) ->
    Summary = maps:with([method, path, query, version, peer, body], Req),
    {200, [{<<"x-host">>, ferry_req:header(<<"host">>, Req, <<"none">>)}],
     term_to_binary(Summary#{headers => maps:get(headers, Req)})}.

%% The segments and the query pairs, for the table of uri_table/1.
table(Req) ->
    {200, [], term_to_binary({ferry_req:path_info(Req), ferry_req:parse_qs(Req)})}.

handle(_Req) ->
    {201, [], <<"from module">>}.

fancy(_Req) ->
    {200, #{<<"x-a">> => 1, x_b => "two"}, [<<"io">>, $l, [<<"ist">>]]}.

%%% Cases

bindings_and_path_info(Config) ->
    Port = ?config(port, Config),
    ?assertMatch({200, _, <<"GET user 42">>}, ferry_test_lib:http(get, Port, "/users/42")),
    ?assertMatch({200, _, <<"DELETE user 7">>}, ferry_test_lib:http(delete, Port, "/users/7")),
    %% Segments are percent-decoded before they are bound.
    ?assertMatch({200, _, <<"GET user a b">>}, ferry_test_lib:http(get, Port, "/users/a%20b")),
    ?assertMatch({200, _, <<"9:a|b|c.txt">>},
                 ferry_test_lib:http(get, Port, "/users/9/files/a/b/c.txt")),
    ?assertMatch({200, _, <<"9:">>}, ferry_test_lib:http(get, Port, "/users/9/files")).

not_found(Config) ->
    Port = ?config(port, Config),
    ?assertMatch({404, _, _}, ferry_test_lib:http(get, Port, "/nothing/here")),
    ?assertMatch({404, _, _}, ferry_test_lib:http(get, Port, "/users")),
    %% Bad percent-encoding in the path is the client's error.
    ?assertMatch({400, _, _}, ferry_test_lib:raw(Port, <<"GET /users/%zz HTTP/1.1\r\nhost: x\r\n\r\n">>)).

method_not_allowed(Config) ->
    Port = ?config(port, Config),
    {405, Headers, _} = ferry_test_lib:http(put, Port, "/users/1", [], <<"x">>),
    ?assertEqual(<<"DELETE, GET, HEAD">>, proplists:get_value(<<"allow">>, Headers)),
    {405, Headers2, _} = ferry_test_lib:http(post, Port, "/qs", [], <<"x">>),
    ?assertEqual(<<"GET, HEAD">>, proplists:get_value(<<"allow">>, Headers2)).

head_via_get(Config) ->
    Port = ?config(port, Config),
    S = ferry_test_lib:connect(Port),
    ferry_test_lib:send_request(S, <<"HEAD /users/5 HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n">>),
    {200, Headers} = ferry_test_lib:recv_head(S, 5000),
    ?assertEqual(<<"11">>, proplists:get_value(<<"content-length">>, Headers)),  % "HEAD user 5"
    %% No body follows the head: the next thing is the close.
    ?assertEqual({error, closed}, gen_tcp:recv(S, 0, 5000)).

query_parsing(Config) ->
    Port = ?config(port, Config),
    {200, _, Body} = ferry_test_lib:http(get, Port, "/qs?a=1&b=x+y&c&d=%C3%A9&a=2"),
    ?assertEqual([{<<"a">>, <<"1">>}, {<<"b">>, <<"x y">>}, {<<"c">>, true},
                  {<<"d">>, <<"é"/utf8>>}, {<<"a">>, <<"2">>}],
                 binary_to_term(Body)).

request_map(Config) ->
    Port = ?config(port, Config),
    Request = <<"GET /echo?x=%20y HTTP/1.0\r\nHost: example.org\r\nX-Dup: 1\r\n"
                "x-dup: 2\r\n\r\n">>,
    {200, Headers, Body} = ferry_test_lib:raw(Port, Request),
    Map = binary_to_term(Body),
    ?assertMatch(#{method := <<"GET">>, path := <<"/echo">>, query := <<"x=%20y">>,
                   version := {1, 0}, body := <<>>, peer := {{127, 0, 0, 1}, P}}
                   when is_integer(P), Map),
    %% Names lowercased, order and duplicates kept.
    ?assertEqual([{<<"host">>, <<"example.org">>}, {<<"x-dup">>, <<"1">>},
                  {<<"x-dup">>, <<"2">>}], maps:get(headers, Map)),
    ?assertEqual(<<"example.org">>, proplists:get_value(<<"x-host">>, Headers)).

inline_body_echo(Config) ->
    Port = ?config(port, Config),
    {200, _, Body} = ferry_test_lib:http(post, Port, "/echo", [], <<"hello body">>),
    ?assertMatch(#{method := <<"POST">>, body := <<"hello body">>}, binary_to_term(Body)).

module_handler(Config) ->
    ?assertMatch({201, _, <<"from module">>},
                 ferry_test_lib:http(get, ?config(port, Config), "/module")).

catch_all(_Config) ->
    Port = ferry_test_lib:start(catch_all, #{routes => [{<<"GET">>, <<"/a">>, fun user/1}],
                                            handler => fun(R) -> {202, [], maps:get(path, R)} end}),
    try
        ?assertMatch({202, _, <<"/anything/else">>},
                     ferry_test_lib:http(get, Port, "/anything/else")),
        ?assertMatch({405, _, _}, ferry_test_lib:http(post, Port, "/a", [], <<"x">>))
    after
        ok = ferry:stop_listener(catch_all)
    end.

map_headers_and_iolist_body(Config) ->
    {200, Headers, Body} = ferry_test_lib:http(get, ?config(port, Config), "/fancy"),
    ?assertEqual(<<"iolist">>, Body),
    ?assertEqual(<<"1">>, proplists:get_value(<<"x-a">>, Headers)),
    ?assertEqual(<<"two">>, proplists:get_value(<<"x_b">>, Headers)).

%% Many requests on one keep-alive connection, answered in order.
keep_alive_many(Config) ->
    S = ferry_test_lib:connect(?config(port, Config)),
    [begin
         ferry_test_lib:send_request(S, [<<"GET /users/">>, integer_to_binary(N),
                                         <<" HTTP/1.1\r\nhost: x\r\n\r\n">>]),
         Expected = <<"GET user ", (integer_to_binary(N))/binary>>,
         ?assertMatch({200, _, Expected}, ferry_test_lib:recv_response(S))
     end || N <- lists:seq(1, 200)],
    gen_tcp:close(S).

info_counts(Config) ->
    Port = ?config(port, Config),
    #{requests := Before, restarts := 0, os_pid := OsPid, port := Port} = ferry:info(routing),
    ?assert(is_integer(OsPid)),
    ?assertEqual(OsPid, ferry:os_pid(routing)),
    S = ferry_test_lib:connect(Port),
    ferry_test_lib:send_request(S, <<"GET /users/1 HTTP/1.1\r\nhost: x\r\n\r\n">>),
    {200, _, _} = ferry_test_lib:recv_response(S),
    #{requests := After, connections := Connections} = ferry:info(routing),
    ?assertEqual(Before + 1, After),
    ?assert(Connections >= 1),
    gen_tcp:close(S).

bad_options(_Config) ->
    H = fun(_) -> {200, [], <<>>} end,
    ?assertEqual({error, {bad_option, nope}}, ferry:start_listener(b1, #{handler => H, nope => 1})),
    ?assertEqual({error, {bad_option, port}}, ferry:start_listener(b1, #{handler => H, port => -1})),
    ?assertEqual({error, {bad_option, routes}},
                 ferry:start_listener(b1, #{routes => [{<<"GET">>, <<"nope">>, H}]})),
    ?assertEqual({error, {bad_option, handler}}, ferry:start_listener(b1, #{})),
    ?assertEqual({error, not_found}, ferry:stop_listener(b1)).

%% A value only Rust knows to be wrong comes back as the same error.
port_rejects_option(_Config) ->
    H = fun(_) -> {200, [], <<>>} end,
    ?assertEqual({error, {bad_option, max_request_line}},
                 ferry:start_listener(b2, #{handler => H, port => 0, max_request_line => 1})),
    ?assertEqual({error, {bad_option, ip}},
                 ferry:start_listener(b2, #{handler => H, port => 0, ip => <<"300.1.1.1">>})),
    ?assertEqual({error, not_found}, ferry:stop_listener(b2)).

address_in_use(Config) ->
    H = fun(_) -> {200, [], <<>>} end,
    ?assertMatch({error, {listen_error, eaddrinuse, _}},
                 ferry:start_listener(b3, #{handler => H, ip => <<"127.0.0.1">>,
                                            port => ?config(port, Config)})),
    ?assertEqual({error, not_found}, ferry:stop_listener(b3)).

%% ferry_opts's list of the port's keys is the port's own list.
options_match_port(_Config) ->
    Markdown = os:cmd(ferry_test_lib:binary_path() ++ " --options-markdown"),
    Keys = [list_to_atom(K) || Line <- string:split(Markdown, "\n", all),
                               {match, [K]} <- [re:run(Line, "^\\| *`([a-z_]+)`",
                                                       [unicode, {capture, all_but_first, list}])]],
    ?assertNotEqual([], Keys),
    ?assertEqual(lists:sort(Keys), lists:sort(ferry_opts:rust_keys())).

stop_unknown(_Config) ->
    ?assertEqual({error, not_found}, ferry:stop_listener(never_started)).

%% `ip' as a tuple, here IPv6 loopback; the peer comes back as an 8-tuple.
ipv6_and_tuple_ip(_Config) ->
    {ok, _} = ferry:start_listener(v6, #{ip => {0, 0, 0, 0, 0, 0, 0, 1}, port => 0,
                                         handler => fun(R) -> {200, [], term_to_binary(maps:get(peer, R))} end}),
    try
        Port = ferry:port_number(v6),
        {ok, S} = gen_tcp:connect({0, 0, 0, 0, 0, 0, 0, 1}, Port, [binary, inet6, {active, false}], 5000),
        ferry_test_lib:send_request(S, <<"GET / HTTP/1.1\r\nhost: x\r\n\r\n">>),
        {200, _, Body} = ferry_test_lib:recv_response(S),
        ?assertMatch({{0, 0, 0, 0, 0, 0, 0, 1}, P} when is_integer(P), binary_to_term(Body)),
        gen_tcp:close(S)
    after
        ok = ferry:stop_listener(v6)
    end.

%% The table both sides are tested with (ferry_uri_cases.eterm; the Elixir
%% side reads it too), through a listener: what a route sees, or 400.
uri_table(Config) ->
    Port = ?config(port, Config),
    {ok, Cases} = file:consult(filename:join(filename:dirname(?FILE), "ferry_uri_cases.eterm")),
    Get = fun(Target) ->
                  ferry_test_lib:raw(Port, <<"GET /table", Target/binary,
                                             " HTTP/1.1\r\nhost: x\r\n\r\n">>)
          end,
    Answer = fun({200, _, Body}) -> {ok, binary_to_term(Body)};
                ({400, _, _}) -> bad_request
             end,
    [?assertEqual({Path, Result},
                  {Path, case Answer(Get(Path)) of
                             {ok, {Segments, []}} -> {ok, Segments};
                             bad_request -> bad_request
                         end})
     || {path, Path, Result} <- Cases, Path =/= <<"/">>],
    [?assertEqual({Query, Result},
                  {Query, case Answer(Get(<<"/?", Query/binary>>)) of
                              {ok, {[], Pairs}} -> {ok, Pairs};
                              bad_request -> bad_request
                          end})
     || {query, Query, Result} <- Cases],
    ok.
