-module(ferry_qs_tests).
-include_lib("eunit/include/eunit.hrl").

%% The query cases of the table both sides are tested with.
parse_table_test_() ->
    {ok, Cases} = file:consult(filename:join(filename:dirname(?FILE), "ferry_uri_cases.eterm")),
    Queries = [{Query, Result} || {query, Query, Result} <- Cases],
    ?assert(length(Queries) >= 10),
    [?_assertMatch(Result, case ferry_qs:parse(Query) of
                               {ok, Pairs} -> {ok, Pairs};
                               {error, _} -> bad_request
                           end) || {Query, Result} <- Queries].

%% What the errors say.
errors_test() ->
    ?assertEqual({error, {bad_escape, <<"b=%4">>}}, ferry_qs:parse(<<"a=1&b=%4">>)),
    ?assertEqual({error, {not_utf8, <<"a=%E9">>}}, ferry_qs:parse(<<"a=%E9">>)).

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
