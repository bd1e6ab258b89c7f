%% The multipart parser on binaries: whole, split at every byte (in two,
%% and byte by byte), malformed bodies, limits, content-disposition.
-module(ferry_multipart_parser_tests).
-include_lib("eunit/include/eunit.hrl").

-define(B, <<"----ferryBoundary7MA4YWxk">>).

%% What curl -F sends, with a preamble and an epilogue, a part whose body
%% holds a near-miss of the delimiter, and an empty part.
body() ->
    B = ?B,
    Near = near(),
    <<"preamble to ignore\r\n",
      "--", B/binary, "\r\n",
      "Content-Disposition: form-data; name=\"title\"\r\n",
      "\r\n",
      "hello\r\n--", Near/binary, "X is not a delimiter... \r\n-- nor this\r\n",
      "--", B/binary, "  \t\r\n",            % transport padding
      "content-disposition: form-data; name=\"file\"; filename=\"a b.txt\"\r\n",
      "Content-Type: text/plain\r\n",
      "\r\n",
      "line 1\r\nline 2\r\n",
      "\r\n--", B/binary, "\r\n",
      "\r\n",                                    % a part without headers
      "\r\n--", B/binary, "\r\n",
      "Content-Disposition: form-data; name=\"empty\"\r\n",
      "\r\n",
      "\r\n--", B/binary, "--\r\n",
      "epilogue to ignore">>.

%% The boundary but its last byte.
near() -> binary:part(?B, 0, byte_size(?B) - 1).

expected() ->
    Near = near(),
    [{headers, [{<<"content-disposition">>, <<"form-data; name=\"title\"">>}]},
     {data, <<"hello\r\n--", Near/binary, "X is not a delimiter... \r\n-- nor this">>},
     part_end,
     {headers, [{<<"content-disposition">>, <<"form-data; name=\"file\"; filename=\"a b.txt\"">>},
                {<<"content-type">>, <<"text/plain">>}]},
     {data, <<"line 1\r\nline 2\r\n">>},
     part_end,
     {headers, []},
     part_end,
     {headers, [{<<"content-disposition">>, <<"form-data; name=\"empty\"">>}]},
     part_end,
     done].

%% Feeds the pieces; data events merged, as their cut depends on the pieces.
parse(Pieces) -> parse(Pieces, 8192).

parse(Pieces, MaxHeader) ->
    parse(Pieces, ferry_multipart_parser:new(?B, MaxHeader), []).

parse([], State, Acc) ->
    {merge(Acc), ferry_multipart_parser:finish(State)};
parse([P | Rest], State, Acc) ->
    case ferry_multipart_parser:feed(P, State) of
        {ok, Events, State1} -> parse(Rest, State1, Acc ++ Events);
        {error, Why} -> {error, Why}
    end.

merge([{data, A}, {data, B} | Rest]) -> merge([{data, <<A/binary, B/binary>>} | Rest]);
merge([E | Rest]) -> [E | merge(Rest)];
merge([]) -> [].

whole_test() ->
    ?assertEqual({expected(), ok}, parse([body()])).

split_in_two_at_every_byte_test() ->
    Body = body(),
    [?assertEqual({expected(), ok}, parse([binary:part(Body, 0, N), binary:part(Body, N, byte_size(Body) - N)]))
     || N <- lists:seq(0, byte_size(Body))].

byte_by_byte_test() ->
    ?assertEqual({expected(), ok}, parse([<<C>> || <<C>> <= body()])).

%% Data is handed out as it comes: a large part never waits whole.
data_is_streamed_test() ->
    State0 = ferry_multipart_parser:new(?B, 8192),
    B = ?B,
    {ok, [{headers, _}], State1} =
        ferry_multipart_parser:feed(<<"--", B/binary, "\r\nContent-Disposition: form-data; name=x\r\n\r\n">>,
                                    State0),
    Chunk = binary:copy(<<"z">>, 65536),
    {ok, [{data, D1}], State2} = ferry_multipart_parser:feed(Chunk, State1),
    %% All but a possible delimiter's start.
    ?assert(byte_size(D1) >= 65536 - byte_size(B) - 4),
    {ok, [{data, D2}, part_end, done], _} =
        ferry_multipart_parser:feed(<<Chunk/binary, "\r\n--", B/binary, "--">>, State2),
    ?assertEqual(2 * 65536, byte_size(D1) + byte_size(D2)).

first_delimiter_without_preamble_test() ->
    B = ?B,
    ?assertEqual({[{headers, []}, {data, <<"x">>}, part_end, done], ok},
                 parse([<<"--", B/binary, "\r\n\r\nx\r\n--", B/binary, "--">>])).

truncated_test_() ->
    B = ?B,
    [?_assertMatch({_, {error, truncated}}, parse([Body]))
     || Body <- [<<>>, <<"no delimiter at all">>,
                 <<"--", B/binary, "\r\n">>,
                 <<"--", B/binary, "\r\nContent-Disposition: form-data; name=x\r\n\r\nda">>,
                 <<"--", B/binary, "\r\n\r\nx\r\n--", B/binary>>]].

malformed_test_() ->
    B = ?B,
    [?_assertEqual({error, bad_delimiter}, parse([<<"--", B/binary, "x\r\n\r\n">>])),
     ?_assertEqual({error, bad_delimiter}, parse([<<"--", B/binary, "\r\n\r\nx\r\n--", B/binary, "-\r\n">>])),
     ?_assertEqual({error, bad_headers}, parse([<<"--", B/binary, "\r\nno colon\r\n\r\n">>])),
     ?_assertEqual({error, bad_headers}, parse([<<"--", B/binary, "\r\n: empty name\r\n\r\n">>])),
     ?_assertEqual({error, bad_headers}, parse([<<"--", B/binary, "\r\nbad name: x\r\n\r\n">>])),
     ?_assertEqual({error, bad_headers},
                   parse([<<"--", B/binary, "\r\na: b\r\n folded\r\n\r\n">>])),
     ?_assertEqual({error, bad_headers}, parse([<<"--", B/binary, "\r\na: b", 0, "\r\n\r\n">>]))].

header_limit_test_() ->
    B = ?B,
    Block = <<"Content-Disposition: form-data; name=\"x\"\r\n\r\n">>,   % 45 bytes
    Body = <<"--", B/binary, "\r\n", Block/binary, "v\r\n--", B/binary, "--">>,
    [?_assertMatch({[_ | _], ok}, parse([Body], 44)),
     ?_assertEqual({error, header_too_large}, parse([Body], 43)),
     %% Split: the limit holds while the block is still coming.
     ?_assertEqual({error, header_too_large}, parse([<<C>> || <<C>> <= Body], 43)),
     %% A block that never ends is refused once over the limit.
     ?_assertEqual({error, header_too_large},
                   parse([<<"--", B/binary, "\r\n">>, binary:copy(<<"a">>, 100)], 64))].

boundary_test_() ->
    Ok = fun(B) -> {ok, B} end,
    [?_assertEqual(Ok(<<"abc">>), ferry_multipart_parser:boundary(<<"multipart/form-data; boundary=abc">>)),
     ?_assertEqual(Ok(<<"a b:c">>),
                   ferry_multipart_parser:boundary(<<"Multipart/Form-Data;charset=utf-8; BOUNDARY=\"a b:c\"">>)),
     ?_assertEqual({error, not_multipart}, ferry_multipart_parser:boundary(<<"text/plain">>)),
     ?_assertEqual({error, not_multipart}, ferry_multipart_parser:boundary(<<"multipart/mixed; boundary=a">>)),
     ?_assertEqual({error, not_multipart}, ferry_multipart_parser:boundary(undefined)),
     ?_assertEqual({error, bad_boundary}, ferry_multipart_parser:boundary(<<"multipart/form-data">>)),
     ?_assertEqual({error, bad_boundary}, ferry_multipart_parser:boundary(<<"multipart/form-data; boundary=">>)),
     ?_assertEqual({error, bad_boundary},
                   ferry_multipart_parser:boundary(<<"multipart/form-data; boundary=",
                                                     (binary:copy(<<"a">>, 71))/binary>>))].

form_data_test_() ->
    F = fun(Disposition, More) ->
                ferry_multipart_parser:form_data([{<<"content-disposition">>, Disposition} | More])
        end,
    CT = [{<<"content-type">>, <<"image/png">>}],
    [?_assertEqual({data, <<"a">>}, F(<<"form-data; name=\"a\"">>, [])),
     ?_assertEqual({data, <<"a">>}, F(<<"form-data; name=a">>, [])),
     ?_assertEqual({data, <<"a;b=c">>}, F(<<"form-data; name=\"a;b=c\"">>, [])),
     ?_assertEqual({data, <<"a\"b">>}, F(<<"form-data; name=\"a\\\"b\"">>, [])),
     ?_assertEqual({file, <<"f">>, <<"x.png">>, <<"image/png">>},
                   F(<<"form-data; name=\"f\"; filename=\"x.png\"">>, CT)),
     ?_assertEqual({file, <<"f">>, <<"x.bin">>, undefined},
                   F(<<"FORM-DATA; filename=\"x.bin\"; NAME=\"f\"">>, [])),
     ?_assertEqual({file, <<"f">>, <<"€ rates.txt"/utf8>>, undefined},
                   F(<<"form-data; name=f; filename=\"x.txt\"; filename*=UTF-8''%e2%82%ac%20rates.txt">>, [])),
     ?_assertEqual({file, <<"f">>, <<>>, undefined}, F(<<"form-data; name=f; filename=\"\"">>, [])),
     ?_assertEqual({data, <<"a">>}, F(<<"form-data; novalue; name=a">>, [])),
     ?_assertEqual(error, F(<<"attachment; name=a">>, [])),
     ?_assertEqual(error, F(<<"form-data; filename=a">>, [])),
     ?_assertEqual(error, ferry_multipart_parser:form_data([]))].
