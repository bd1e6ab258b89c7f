-module(ferry_date_tests).
-include_lib("eunit/include/eunit.hrl").

%% RFC 9110 5.6.7's example, 784111777 seconds after the epoch.
-define(T, 784111777).

format_test() ->
    ?assertEqual(<<"Sun, 06 Nov 1994 08:49:37 GMT">>, ferry_date:format(?T)),
    ?assertEqual(<<"Thu, 01 Jan 1970 00:00:00 GMT">>, ferry_date:format(0)).

three_formats_test_() ->
    [?_assertEqual({ok, ?T}, ferry_date:parse(D))
     || D <- [<<"Sun, 06 Nov 1994 08:49:37 GMT">>,
              <<"Sunday, 06-Nov-94 08:49:37 GMT">>,
              <<"Sun Nov  6 08:49:37 1994">>]].

round_trip_test_() ->
    [?_assertEqual({ok, T}, ferry_date:parse(ferry_date:format(T)))
     || T <- [0, 1, ?T, 951782400, 1700000000, 4102444799]].

invalid_dates_test_() ->
    [?_assertEqual(error, ferry_date:parse(D))
     || D <- [<<>>, <<"yesterday">>, <<"Sun, 06 Nov 1994 08:49:37 UTC">>,
              <<"Sun, 31 Feb 1994 08:49:37 GMT">>, <<"Sun, 06 Foo 1994 08:49:37 GMT">>,
              <<"Sun, 06 Nov 1994 25:49:37 GMT">>, <<"Sun, 06 Nov 19x4 08:49:37 GMT">>,
              <<"Sun, 06 Nov 1994 08:49:37 GMT ">>, <<"1994-11-06T08:49:37Z">>]].
