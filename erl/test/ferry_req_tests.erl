-module(ferry_req_tests).
-include_lib("eunit/include/eunit.hrl").

req() ->
    #{method => <<"GET">>, path => <<"/p">>, query => <<"a=1&b=x+y&c&d=%41&&e=">>,
      version => {1, 1},
      headers => [{<<"host">>, <<"h">>}, {<<"accept">>, <<"a/b">>}, {<<"accept">>, <<"c/d">>}],
      peer => {{127, 0, 0, 1}, 1}, body => <<>>,
      bindings => #{<<"id">> => <<"42">>}, path_info => [<<"x">>]}.

header_test() ->
    R = req(),
    ?assertEqual(<<"h">>, ferry_req:header(<<"host">>, R)),
    ?assertEqual(undefined, ferry_req:header(<<"cookie">>, R)),
    ?assertEqual(none, ferry_req:header(<<"cookie">>, R, none)),
    %% RFC 9110 5.3: repeated fields are one comma-separated list.
    ?assertEqual(<<"a/b, c/d">>, ferry_req:header(<<"accept">>, R)).

parse_qs_test() ->
    ?assertEqual([{<<"a">>, <<"1">>}, {<<"b">>, <<"x y">>}, {<<"c">>, true},
                  {<<"d">>, <<"A">>}, {<<"e">>, <<>>}],
                 ferry_req:parse_qs(req())),
    ?assertEqual([{<<"k y">>, <<"v=w">>}, {<<"é"/utf8>>, <<"1">>}],
                 ferry_req:parse_qs(<<"k%20y=v=w&%C3%A9=1">>)),
    ?assertEqual([], ferry_req:parse_qs(<<>>)).

binding_test() ->
    R = req(),
    ?assertEqual(<<"42">>, ferry_req:binding(<<"id">>, R)),
    ?assertEqual(<<"42">>, ferry_req:binding(id, R)),
    ?assertEqual(undefined, ferry_req:binding(<<"nope">>, R)),
    ?assertEqual(d, ferry_req:binding(<<"nope">>, R, d)),
    ?assertEqual([<<"x">>], ferry_req:path_info(R)).

encode_headers_test() ->
    ?assertEqual([{<<"a">>, <<"1">>}, {<<"b">>, <<"xy">>}, {<<"c">>, <<"v">>}],
                 ferry_req:encode_headers([{<<"a">>, 1}, {b, [<<"x">>, "y"]}, {"c", <<"v">>}])),
    ?assertEqual([{<<"k">>, <<"v">>}], ferry_req:encode_headers(#{<<"k">> => <<"v">>})),
    ?assertError(_, ferry_req:encode_headers([{<<"a">>, self()}])),
    ?assertError(_, ferry_req:encode_headers([not_a_pair])),
    ?assertError(_, ferry_req:encode_headers(nope)).

%% A value with CR, LF or NUL anywhere is refused, short or long (the two
%% sizes take different paths); other bytes, obs-text included, are kept.
header_value_bytes_test() ->
    Long = binary:copy(<<"v">>, 2000),
    [?assertError({ferry, bad_response, {header, <<"x">>, _}},
                  ferry_req:encode_headers([{<<"x">>, V}]))
     || Bad <- [<<"\r">>, <<"\n">>, <<0>>],
        V <- [Bad, <<Bad/binary, "a">>, <<"a", Bad/binary>>, <<"ab", Bad/binary, "cd">>,
              <<Long/binary, Bad/binary>>, <<Bad/binary, Long/binary>>]],
    [?assertEqual([{<<"x">>, V}], ferry_req:encode_headers([{<<"x">>, V}]))
     || V <- [<<>>, <<"text/plain; charset=utf-8">>, <<"caf", 16#e9>>, <<"\t tab">>, Long]].

sse_event_test() ->
    Bin = fun(E) -> iolist_to_binary(ferry_req:sse_event(E)) end,
    ?assertEqual(<<"data: hi\n\n">>, Bin(<<"hi">>)),
    ?assertEqual(<<"event: tick\nid: 7\nretry: 100\ndata: a\ndata: b\ndata: c\n\n">>,
                 Bin(#{event => <<"tick">>, id => "7", retry => 100, data => <<"a\nb\r\nc">>})),
    %% A newline in event or id would start a field the caller did not write.
    ?assertError(_, Bin(#{event => <<"x\ndata: injected">>, data => <<>>})),
    ?assertError(_, Bin(#{id => <<"1\r">>, data => <<>>})).

inline_body_test() ->
    R = (req())#{body => <<"abc">>},
    %% Each read in a process of its own: a read body is read.
    InProcess = fun(F) ->
                        Parent = self(),
                        spawn_link(fun() -> Parent ! {self(), F()} end),
                        receive {_, Result} -> Result end
                end,
    ?assertMatch({ok, <<"abc">>, _}, InProcess(fun() -> ferry_req:read_body(R) end)),
    ?assertMatch({ok, <<"abc">>, _}, InProcess(fun() -> ferry_req:read_full_body(R, 3) end)),
    ?assertEqual({error, too_large}, InProcess(fun() -> ferry_req:read_full_body(R, 2) end)),
    %% Then `<<>>', as for a streamed body read to its end.
    ?assertMatch({{ok, <<"abc">>, _}, {ok, <<>>, _}},
                 InProcess(fun() -> {ferry_req:read_body(R), ferry_req:read_body(R)} end)).

set_resp_cookie_test() ->
    R0 = req(),
    R1 = ferry_req:set_resp_cookie(<<"a">>, <<"1">>, #{}, R0),
    R2 = ferry_req:set_resp_cookie("b", "2", #{max_age => 0, http_only => false}, R1),
    %% The same name again replaces the first.
    R3 = ferry_req:set_resp_cookie(<<"a">>, <<"3">>, #{secure => true}, R2),
    ?assertEqual(#{<<"a">> => <<"a=3; Path=/; Secure; HttpOnly">>,
                   <<"b">> => <<"b=2; Path=/; Max-Age=0; Expires=Thu, 01 Jan 1970 00:00:00 GMT">>},
                 maps:get(resp_cookies, R3)),
    ?assertError({ferry, bad_cookie, _}, ferry_req:set_resp_cookie(<<"a">>, <<"x y">>, #{}, R0)).

parse_cookies_test() ->
    R = #{headers => [{<<"cookie">>, <<"a=1; b=x=y;c=">>}, {<<"host">>, <<"h">>},
                      {<<"cookie">>, <<"noeq; d = 4 ; bad name=5">>}]},
    ?assertEqual([{<<"a">>, <<"1">>}, {<<"b">>, <<"x=y">>}, {<<"c">>, <<>>}, {<<"d">>, <<"4">>}],
                 ferry_req:parse_cookies(R)),
    ?assertEqual([], ferry_req:parse_cookies(#{headers => []})).
