-module(ferry_access_log_tests).
-include_lib("eunit/include/eunit.hrl").

line(Req, Status, Bytes, Us) ->
    iolist_to_binary(ferry_access_log:line(Req, Status, #{bytes => Bytes, duration_us => Us})).

req(Path, Query) ->
    #{method => <<"GET">>, path => Path, query => Query, version => {1, 1},
      peer => {{127, 0, 0, 1}, 5000}}.

line_test() ->
    ?assertEqual(<<"127.0.0.1 \"GET /a?b=1 HTTP/1.1\" 200 91 0.412ms">>,
                 line(req(<<"/a">>, <<"b=1">>), 200, 91, 412)),
    ?assertEqual(<<"::1 \"GET /a HTTP/1.0\" - 0 1500.000ms">>,
                 line((req(<<"/a">>, <<>>))#{peer => {{0, 0, 0, 0, 0, 0, 0, 1}, 1}, version => {1, 0}},
                      undefined, 0, 1500000)).

%% A client cannot write a line of its own into the log, nor close the
%% quoted request early.
forged_line_test() ->
    Line = line(req(<<"/x\n127.0.0.1 \"GET /admin\"">>, <<"q=\r\\">>), 200, 1, 1),
    ?assertEqual(nomatch, binary:match(Line, [<<"\n">>, <<"\r">>])),
    ?assertEqual(<<"127.0.0.1 \"GET /x\\x0A127.0.0.1 \\x22GET /admin\\x22?q=\\x0D\\x5C HTTP/1.1\" 200 1 0.001ms">>,
                 Line).
