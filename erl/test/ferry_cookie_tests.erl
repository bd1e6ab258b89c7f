-module(ferry_cookie_tests).
-include_lib("eunit/include/eunit.hrl").

parse_test_() ->
    P = fun ferry_cookie:parse/1,
    [?_assertEqual([{<<"a">>, <<"1">>}, {<<"b">>, <<"2">>}], P(<<"a=1; b=2">>)),
     %% Spaces and tabs around pairs, names and values are not part of them.
     ?_assertEqual([{<<"a">>, <<"1">>}, {<<"b">>, <<"x y">>}], P(<<" a = 1 ;\tb=x y\t">>)),
     %% The value runs to the next `;': a later `=' is part of it.
     ?_assertEqual([{<<"t">>, <<"a=b=c">>}], P(<<"t=a=b=c">>)),
     %% Quotes are kept (RFC 6265 4.1.1 makes them part of the value).
     ?_assertEqual([{<<"q">>, <<"\"v\"">>}], P(<<"q=\"v\"">>)),
     ?_assertEqual([{<<"e">>, <<>>}], P(<<"e=">>)),
     %% Duplicates are kept, in order: the most specific path comes first.
     ?_assertEqual([{<<"s">>, <<"1">>}, {<<"s">>, <<"2">>}], P(<<"s=1; s=2">>)),
     ?_assertEqual([], P(<<>>)),
     ?_assertEqual([], P(<<";;; ;">>))].

parse_malformed_test_() ->
    P = fun ferry_cookie:parse/1,
    [%% No `=': skipped, the rest kept.
     ?_assertEqual([{<<"b">>, <<"2">>}], P(<<"noeq; b=2">>)),
     %% An empty name.
     ?_assertEqual([{<<"b">>, <<"2">>}], P(<<"=1; b=2">>)),
     %% A name that is not a token: a space, a quote, a comma, brackets.
     ?_assertEqual([{<<"ok">>, <<"1">>}],
                   P(<<"a b=1; \"q\"=2; c,d=3; e[f]=4; ok=1">>)),
     %% Control characters in a name or a value.
     ?_assertEqual([{<<"ok">>, <<"1">>}], P(<<"a\x01=1; b=\x7f; c=x\x00y; ok=1">>)),
     %% Bytes over 0x7F in a value are kept (some sites send UTF-8).
     ?_assertEqual([{<<"u">>, <<"é"/utf8>>}], P(<<"u=é"/utf8>>))].

setcookie_test_() ->
    S = fun ferry_cookie:setcookie/3,
    [%% The defaults: the whole site, and not for scripts.
     ?_assertEqual(<<"a=1; Path=/; HttpOnly">>, S(<<"a">>, <<"1">>, #{})),
     ?_assertEqual(<<"a=1">>, S("a", ["1"], #{path => undefined, http_only => false})),
     ?_assertEqual(<<"sid=x; Path=/app; Domain=example.org; Secure; HttpOnly; SameSite=Strict">>,
                   S(<<"sid">>, <<"x">>, #{path => <<"/app">>, domain => <<"example.org">>,
                                          secure => true, same_site => strict})),
     ?_assertEqual(<<"a=; Path=/; SameSite=Lax">>,
                   S(<<"a">>, <<>>, #{http_only => false, same_site => lax})),
     ?_assertEqual(<<"a=1; Path=/; Secure; HttpOnly; SameSite=None">>,
                   S(<<"a">>, <<"1">>, #{secure => true, same_site => none})),
     ?_assertEqual(<<"a=1; Path=/; HttpOnly; Partitioned; Priority=High">>,
                   S(<<"a">>, <<"1">>, #{extra => <<"Partitioned; Priority=High">>})),
     %% max_age 0 deletes: expired at the epoch whatever the client's clock.
     ?_assertEqual(<<"a=; Path=/; Max-Age=0; Expires=Thu, 01 Jan 1970 00:00:00 GMT; HttpOnly">>,
                   S(<<"a">>, <<>>, #{max_age => 0}))].

max_age_writes_expires_test() ->
    Field = ferry_cookie:setcookie(<<"a">>, <<"1">>, #{max_age => 3600}),
    {match, [Date]} = re:run(Field, "^a=1; Path=/; Max-Age=3600; Expires=([^;]+); HttpOnly$",
                             [{capture, all_but_first, list}]),
    %% IMF-fixdate, an hour from now (within the minute the test may span).
    {ok, [Day, _, Month, _, _, _, _], ""} =
        io_lib:fread("~3s, ~2d ~3s ~4d ~2d:~2d:~2d GMT", Date),
    ?assert(lists:member(Day, ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"])),
    ?assert(lists:member(Month, ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep",
                                 "Oct", "Nov", "Dec"])),
    Then = httpd_util:convert_request_date(Date),
    Now = calendar:datetime_to_gregorian_seconds(calendar:universal_time()),
    Diff = calendar:datetime_to_gregorian_seconds(Then) - Now,
    ?assert(Diff > 3500 andalso Diff =< 3600).

setcookie_refuses_test_() ->
    Bad = fun(Name, Value, Opts) ->
                  ?_assertError({ferry, bad_cookie, _}, ferry_cookie:setcookie(Name, Value, Opts))
          end,
    [%% Names must be tokens, values cookie-octets (RFC 6265 4.1.1).
     Bad(<<>>, <<"1">>, #{}),
     Bad(<<"a b">>, <<"1">>, #{}),
     Bad(<<"a=b">>, <<"1">>, #{}),
     Bad(<<"a;">>, <<"1">>, #{}),
     Bad(<<"a">>, <<"x;y">>, #{}),
     Bad(<<"a">>, <<"x y">>, #{}),
     Bad(<<"a">>, <<"x,y">>, #{}),
     Bad(<<"a">>, <<"\"x\"">>, #{}),
     Bad(<<"a">>, <<"x\\y">>, #{}),
     Bad(<<"a">>, <<"x\r\nSet-Cookie: evil=1">>, #{}),
     Bad(<<"a">>, <<"é"/utf8>>, #{}),
     %% Attributes: a `;' or a control character would write another
     %% attribute or header; wrong types; unknown options.
     Bad(<<"a">>, <<"1">>, #{path => <<"/x; Domain=evil.org">>}),
     Bad(<<"a">>, <<"1">>, #{path => <<"/x\r\n">>}),
     Bad(<<"a">>, <<"1">>, #{path => <<>>}),
     Bad(<<"a">>, <<"1">>, #{domain => <<"a;b">>}),
     Bad(<<"a">>, <<"1">>, #{domain => "example.org"}),
     Bad(<<"a">>, <<"1">>, #{max_age => -1}),
     Bad(<<"a">>, <<"1">>, #{max_age => <<"60">>}),
     Bad(<<"a">>, <<"1">>, #{secure => yes}),
     Bad(<<"a">>, <<"1">>, #{http_only => 1}),
     Bad(<<"a">>, <<"1">>, #{same_site => <<"Lax">>}),
     Bad(<<"a">>, <<"1">>, #{same_site => loose}),
     Bad(<<"a">>, <<"1">>, #{extra => <<"x\ny">>}),
     Bad(<<"a">>, <<"1">>, #{expires => 10}),
     Bad(<<"a">>, <<"1">>, [{path, <<"/">>}])].

%% What setcookie writes, parse reads back.
round_trip_test() ->
    Field = ferry_cookie:setcookie(<<"tok">>, <<"AbC-_.~!#$&'()*+/:<=>?@[]^`{|}">>, #{}),
    [Pair | _] = binary:split(Field, <<"; ">>),
    ?assertEqual([{<<"tok">>, <<"AbC-_.~!#$&'()*+/:<=>?@[]^`{|}">>}], ferry_cookie:parse(Pair)).
