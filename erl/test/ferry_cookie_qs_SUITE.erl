%% Cookies and query strings through a real listener: what
%% ferry_req:set_resp_cookie/4 and ferry_cookie:setcookie/3 put on the
%% wire, and the 400 a bad query string or a refused match_qs/2 gets.
-module(ferry_cookie_qs_SUITE).
-include_lib("common_test/include/ct.hrl").
-include_lib("stdlib/include/assert.hrl").

-export([all/0, init_per_suite/1, end_per_suite/1]).
-export([cookies_on_reply/1, cookies_on_stream/1, cookie_in_returned_headers/1,
         request_cookies/1, bad_cookie_is_a_500/1, match_qs_ok/1, match_qs_refused/1,
         bad_query_is_a_400/1]).

all() ->
    [cookies_on_reply, cookies_on_stream, cookie_in_returned_headers, request_cookies,
     bad_cookie_is_a_500, match_qs_ok, match_qs_refused, bad_query_is_a_400].

init_per_suite(Config0) ->
    Config = ferry_test_lib:init_per_suite(Config0),
    Routes = [{<<"GET">>, <<"/reply">>, fun reply/1},
              {<<"GET">>, <<"/stream">>, fun stream/1},
              {<<"GET">>, <<"/returned">>, fun returned/1},
              {<<"GET">>, <<"/cookies">>, fun cookies/1},
              {<<"GET">>, <<"/bad-cookie">>, fun bad_cookie/1},
              {<<"GET">>, <<"/match">>, fun match/1}],
    Port = ferry_test_lib:start(cookie_qs, #{routes => Routes}),
    [{port, Port} | Config].

end_per_suite(Config) ->
    ok = ferry:stop_listener(cookie_qs),
    ferry_test_lib:end_per_suite(Config).

%%% Handlers

reply(Req0) ->
    Req1 = ferry_req:set_resp_cookie(<<"sid">>, <<"abc">>, #{same_site => lax}, Req0),
    Req2 = ferry_req:set_resp_cookie(<<"old">>, <<>>, #{max_age => 0}, Req1),
    Req = ferry_req:reply(200, [{<<"x-a">>, <<"1">>}], <<"ok">>, Req2),
    {done, Req}.

stream(Req0) ->
    Req1 = ferry_req:set_resp_cookie(<<"s">>, <<"1">>, #{http_only => false}, Req0),
    Req = ferry_req:stream_reply(200, [], Req1),
    {done, ferry_req:stream_body(<<"streamed">>, fin, Req)}.

returned(_Req) ->
    {200, [{<<"set-cookie">>, ferry_cookie:setcookie(<<"r">>, <<"2">>, #{secure => true})}],
     <<"returned">>}.

cookies(Req) ->
    {200, [], term_to_binary(ferry_req:parse_cookies(Req))}.

bad_cookie(Req) ->
    {done, ferry_req:reply(200, [], <<>>,
                           ferry_req:set_resp_cookie(<<"a">>, <<"x;y">>, #{}, Req))}.

match(Req) ->
    #{id := Id, lang := Lang} = ferry_req:match_qs([{id, int}, {lang, nonempty, <<"en">>}], Req),
    {200, [], [integer_to_binary(Id), $\s, Lang]}.

%%% Cases

set_cookies(Headers) ->
    lists:sort([V || {<<"set-cookie">>, V} <- Headers]).

cookies_on_reply(Config) ->
    {200, Headers, <<"ok">>} = ferry_test_lib:http(get, ?config(port, Config), "/reply"),
    ?assertEqual(<<"1">>, proplists:get_value(<<"x-a">>, Headers)),
    ?assertEqual([<<"old=; Path=/; Max-Age=0; Expires=Thu, 01 Jan 1970 00:00:00 GMT; HttpOnly">>,
                  <<"sid=abc; Path=/; HttpOnly; SameSite=Lax">>],
                 set_cookies(Headers)).

cookies_on_stream(Config) ->
    {200, Headers, <<"streamed">>} = ferry_test_lib:http(get, ?config(port, Config), "/stream"),
    ?assertEqual([<<"s=1; Path=/">>], set_cookies(Headers)).

cookie_in_returned_headers(Config) ->
    {200, Headers, _} = ferry_test_lib:http(get, ?config(port, Config), "/returned"),
    ?assertEqual([<<"r=2; Path=/; Secure; HttpOnly">>], set_cookies(Headers)).

request_cookies(Config) ->
    Port = ?config(port, Config),
    Request = <<"GET /cookies HTTP/1.1\r\nhost: x\r\ncookie: a=1; bad name=2; b=\"q\"\r\n"
                "cookie: noeq; a=3\r\n\r\n">>,
    {200, _, Body} = ferry_test_lib:raw(Port, Request),
    ?assertEqual([{<<"a">>, <<"1">>}, {<<"b">>, <<"\"q\"">>}, {<<"a">>, <<"3">>}],
                 binary_to_term(Body)).

bad_cookie_is_a_500(Config) ->
    ferry_test_lib:capture_logs(),
    try
        ?assertMatch({500, _, _}, ferry_test_lib:http(get, ?config(port, Config), "/bad-cookie")),
        ferry_test_lib:await_log(fun(#{reason := {ferry, bad_cookie, _}}) -> true;
                                    (_) -> false
                                 end, 5000)
    after
        ferry_test_lib:stop_capture()
    end.

match_qs_ok(Config) ->
    Port = ?config(port, Config),
    ?assertMatch({200, _, <<"42 fr">>}, ferry_test_lib:http(get, Port, "/match?id=42&lang=fr")),
    ?assertMatch({200, _, <<"7 en">>}, ferry_test_lib:http(get, Port, "/match?id=7")).

match_qs_refused(Config) ->
    Port = ?config(port, Config),
    {400, _, Body} = ferry_test_lib:http(get, Port, "/match?id=x&lang="),
    ?assertEqual(<<"Bad Request: bad query parameters: id: not_an_integer, lang: empty\n">>, Body),
    {400, _, Missing} = ferry_test_lib:http(get, Port, "/match"),
    ?assertEqual(<<"Bad Request: bad query parameters: id: missing\n">>, Missing).

bad_query_is_a_400(Config) ->
    Port = ?config(port, Config),
    {400, _, Body} = ferry_test_lib:http(get, Port, "/match?id=1&lang=%E9"),
    ?assertEqual(<<"Bad Request: the query string does not decode to UTF-8 in \"lang=%E9\"\n">>,
                 Body),
    ?assertMatch({400, _, <<"Bad Request: the query string has a %", _/binary>>},
                 ferry_test_lib:raw(Port, <<"GET /match?id=%zz HTTP/1.1\r\nhost: x\r\n\r\n">>)).
