-module(ferry_qs_tests).
-include_lib("eunit/include/eunit.hrl").

%% The table both sides are tested with: the Elixir tests
%% (elixir_client/test/ferry/query_test.exs) read the same cases through
%% Ferry.Conn. {Query, Result of ferry_qs:parse/1}.
cases() ->
    [{<<"">>, {ok, []}},
     {<<"a=1&b=2">>, {ok, [{<<"a">>, <<"1">>}, {<<"b">>, <<"2">>}]}},
     {<<"a=x+y&b=x%20y&c=x%2By">>,
      {ok, [{<<"a">>, <<"x y">>}, {<<"b">>, <<"x y">>}, {<<"c">>, <<"x+y">>}]}},
     {<<"flag&e=">>, {ok, [{<<"flag">>, true}, {<<"e">>, <<>>}]}},
     {<<"&&a=1&&">>, {ok, [{<<"a">>, <<"1">>}]}},
     {<<"=v&a=1">>, {ok, [{<<"a">>, <<"1">>}]}},
     {<<"k=v=w">>, {ok, [{<<"k">>, <<"v=w">>}]}},
     {<<"a=1&a=2">>, {ok, [{<<"a">>, <<"1">>}, {<<"a">>, <<"2">>}]}},
     {<<"%C3%A9=%E2%82%AC">>, {ok, [{<<"é"/utf8>>, <<"€"/utf8>>}]}},
     {<<"a[b]=1&c[]=2">>, {ok, [{<<"a[b]">>, <<"1">>}, {<<"c[]">>, <<"2">>}]}},
     {<<"a=%zz">>, {error, {bad_escape, <<"a=%zz">>}}},
     {<<"a=1&b=%4">>, {error, {bad_escape, <<"b=%4">>}}},
     {<<"%=1">>, {error, {bad_escape, <<"%=1">>}}},
     {<<"a=%E9">>, {error, {not_utf8, <<"a=%E9">>}}},
     {<<"a=%ED%A0%80">>, {error, {not_utf8, <<"a=%ED%A0%80">>}}},
     {<<"%FF=1">>, {error, {not_utf8, <<"%FF=1">>}}}].

parse_table_test_() ->
    [?_assertEqual(Result, ferry_qs:parse(Query)) || {Query, Result} <- cases()].

%% ferry_req:parse_qs/1 follows the same rules and makes a bad query the
%% client's error (ferry_handler answers 400).
parse_qs_raises_bad_request_test() ->
    ?assertEqual([{<<"a">>, <<"1">>}], ferry_req:parse_qs(#{query => <<"a=1">>})),
    ?assertError({ferry, bad_request, {query, {bad_escape, <<"a=%zz">>}}},
                 ferry_req:parse_qs(#{query => <<"a=%zz">>})).

match_test_() ->
    {ok, Pairs} = ferry_qs:parse(<<"id=42&lang=fr&tag=a&tag=b&empty=&flag&neg=-3">>),
    M = fun(Fields) -> ferry_qs:match(Fields, Pairs) end,
    [?_assertEqual({ok, #{id => <<"42">>}}, M([id])),
     ?_assertEqual({ok, #{id => 42, neg => -3}}, M([{id, int}, {neg, int}])),
     ?_assertEqual({ok, #{lang => <<"fr">>, page => 1}},
                   M([{lang, nonempty, <<"en">>}, {page, int, 1}])),
     %% A repeated key has the list of its values, in order.
     ?_assertEqual({ok, #{tag => [<<"a">>, <<"b">>]}}, M([tag])),
     ?_assertEqual({ok, #{flag => true}}, M([flag])),
     %% Constraints in turn, a fun in Cowboy's form.
     ?_assertEqual({ok, #{id => 84}},
                   M([{id, [int, fun(forward, N) -> {ok, N * 2} end]}])),
     ?_assertEqual({error, #{id => too_big}},
                   M([{id, [int, fun(forward, _) -> {error, too_big} end]}])),
     %% Every failure is named.
     ?_assertEqual({error, #{missing => missing, lang => not_an_integer, empty => empty,
                            flag => empty}},
                   M([missing, {lang, int}, {empty, nonempty}, {flag, nonempty}, id])),
     ?_assertEqual({error, #{tag => not_an_integer}}, M([{tag, int}]))].

match_qs_raises_bad_request_test() ->
    Req = #{query => <<"id=x">>},
    ?assertEqual(#{id => <<"x">>}, ferry_req:match_qs([id], Req)),
    ?assertError({ferry, bad_request, {match_qs, #{id := not_an_integer}}},
                 ferry_req:match_qs([{id, int}], Req)).

describe_test() ->
    ?assertEqual(<<"the query string has a % not followed by two hex digits in \"a=%zz\"">>,
                 ferry_qs:describe({query, {bad_escape, <<"a=%zz">>}})),
    ?assertEqual(<<"bad query parameters: id: not_an_integer, x: missing">>,
                 ferry_qs:describe({match_qs, #{x => missing, id => not_an_integer}})).
