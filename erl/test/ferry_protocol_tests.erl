-module(ferry_protocol_tests).
-include_lib("eunit/include/eunit.hrl").

%% minor_version 2 writes atoms as SMALL_ATOM_UTF8_EXT, as Rust does.
frame(Term) -> term_to_binary(Term, [{minor_version, 2}]).

request_id_fast_path_test_() ->
    Req = #{method => <<"GET">>, path => <<"/">>, headers => [{<<"a">>, <<"b">>}]},
    [?_assertEqual(Id, ferry_protocol:request_id(frame({request, Id, Req})))
     || Id <- [0, 1, 255, 256, 65535, 16#7fffffff, 16#80000000, 16#ffffffffffff,
               16#7fffffffffffffff, 16#ffffffffffffffff]].

request_id_is_only_for_requests_test() ->
    ?assertEqual(undefined, ferry_protocol:request_id(frame({body, 1, <<"x">>}))),
    ?assertEqual(undefined, ferry_protocol:request_id(frame({closed, 1, peer_closed}))),
    ?assertEqual(undefined, ferry_protocol:request_id(frame(stats))),
    ?assertEqual(undefined, ferry_protocol:request_id(<<>>)),
    ?assertEqual(undefined, ferry_protocol:request_id(<<131, 104, 3, 119, 7, "request">>)).

%% Another atom encoding (ATOM_EXT, OTP 25's default) is decoded whole.
other_atom_encoding_falls_back_test() ->
    Frame = term_to_binary({request, 5, #{}}, [{minor_version, 1}]),
    ?assertEqual(undefined, ferry_protocol:request_id(Frame)),
    ?assertEqual({request, 5, #{}}, ferry_protocol:decode(Frame)).

decode_is_safe_test() ->
    %% An atom that does not exist is refused, not created.
    Unknown = <<131, 119, 20, "ferry_no_such_atom_x">>,
    ?assertEqual({error, Unknown}, ferry_protocol:decode(Unknown)),
    ?assertEqual({error, <<1, 2, 3>>}, ferry_protocol:decode(<<1, 2, 3>>)),
    ?assertEqual({log, warning, <<"m">>}, ferry_protocol:decode(frame({log, warning, <<"m">>}))).

commands_round_trip_test() ->
    Decode = fun(Frame) -> binary_to_term(iolist_to_binary(Frame)) end,
    ?assertEqual({respond, 1, 200, [{<<"a">>, <<"b">>}], <<"x">>},
                 Decode(ferry_protocol:respond(1, 200, [{<<"a">>, <<"b">>}], <<"x">>))),
    %% A large body goes as one binary, whatever iodata it was given as.
    Big = [binary:copy(<<"a">>, 20000), [<<"b">>], "c"],
    ?assertEqual({respond, 70000, 404, [], iolist_to_binary(Big)},
                 Decode(ferry_protocol:respond(70000, 404, [], Big))),
    ?assertEqual({stream_chunk, 1 bsl 40, iolist_to_binary(Big)},
                 Decode(ferry_protocol:stream_chunk(1 bsl 40, Big))),
    ?assertEqual({respond, 1 bsl 40, 200, [], <<>>},
                 Decode(ferry_protocol:respond(1 bsl 40, 200, [], <<>>))),
    ?assertEqual({stream_chunk, 7, <<"data">>}, Decode(ferry_protocol:stream_chunk(7, <<"data">>))),
    ?assertError(badarg, ferry_protocol:respond(1, 200, [], not_iodata)),
    ?assertEqual({read_body, 3, 100}, binary_to_term(ferry_protocol:read_body(3, 100))),
    ?assertEqual({drain, 50}, binary_to_term(ferry_protocol:drain(50))),
    ?assertEqual(stats, binary_to_term(ferry_protocol:stats())),
    ?assertEqual({abort, 9}, binary_to_term(ferry_protocol:abort(9))).

batch_test() ->
    A = ferry_protocol:stream_chunk(1, <<"abc">>),
    B = ferry_protocol:stream_end(1, []),
    Batch = iolist_to_binary(ferry_protocol:batch([A, B])),
    <<LA:32, FA:LA/binary, LB:32, FB:LB/binary>> = Batch,
    ?assertNotEqual(131, binary:first(Batch)),
    ?assertEqual({stream_chunk, 1, <<"abc">>}, binary_to_term(FA)),
    ?assertEqual({stream_end, 1, []}, binary_to_term(FB)).

%% A body sent as a stream keeps the content-length of a whole one.
length_headers_test() ->
    H = [{<<"x">>, <<"1">>}],
    ?assertEqual({ok, H ++ [{<<"content-length">>, <<"70000">>}]},
                 ferry_protocol:length_headers(H, 200, 70000)),
    Own = [{<<"Content-Length">>, <<"70000">>}],
    ?assertEqual({ok, Own}, ferry_protocol:length_headers(Own, 200, 70000)),
    ?assertEqual({ok, []}, ferry_protocol:length_headers([], 204, 70000)),
    ?assertEqual({ok, []}, ferry_protocol:length_headers([], 304, 70000)),
    [?assertEqual({error, {content_length, Values, 70000}},
                  ferry_protocol:length_headers([{<<"content-length">>, V} || V <- Values],
                                                200, 70000))
     || Values <- [[<<"69999">>], [<<"+70000">>], [<<" 70000">>], [<<"70000 ">>], [<<>>],
                   [<<"7e4">>], [<<"70000">>, <<"70000">>]]].

file_commands_test() ->
    ?assertEqual({send_file, 3, 206, [{<<"content-range">>, <<"bytes 1-2/9">>}], {<<"/f">>, 1, 2}},
                 binary_to_term(ferry_protocol:send_file(3, 206, [{<<"content-range">>,
                                                                  <<"bytes 1-2/9">>}],
                                                         {<<"/f">>, 1, 2}))),
    ?assertError(function_clause, ferry_protocol:send_file(3, 200, [], {<<"/f">>, -1, 2})),
    ?assertError(function_clause, ferry_protocol:send_file(3, 200, [], {"/f", 0, 2})),
    ?assertEqual({body_to_file, 4, tmp, #{digest => sha256, max => 10}},
                 binary_to_term(ferry_protocol:body_to_file(4, tmp, #{digest => sha256,
                                                                      max => 10}))).

%% The atoms Rust sends about files (docs/PROTOCOL.md "Files") are listed,
%% so [safe] decoding finds them.
file_atoms_listed_test() ->
    ?assertEqual([], [A || A <- [body_file, file_error, sha256, trailers, files, path, bytes],
                           not lists:member(A, ferry_protocol:atoms())]).
