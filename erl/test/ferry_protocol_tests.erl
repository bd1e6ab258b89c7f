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

%% A body frame's chunk is not copied out of the frame: it is a part of it.
body_frames_decode_to_parts_of_the_frame_test_() ->
    Chunk = binary:copy(<<"0123456789">>, 1000),
    [fun() ->
             Frame = frame({body, Id, Chunk}),
             {body, Id, Got} = ferry_protocol:decode(Frame),
             ?assertEqual(Chunk, Got),
             ?assertEqual(byte_size(Frame), binary:referenced_byte_size(Got))
     end || Id <- [0, 255, 256, 16#7fffffff, 16#80000000, 16#ffffffffffffffff]].

%% Anything else that starts like one is decoded whole (or refused).
body_frames_out_of_shape_fall_back_test() ->
    ?assertEqual({body, 1, [1]}, ferry_protocol:decode(frame({body, 1, [1]}))),
    Trailing = <<(frame({body, 1, <<"ab">>}))/binary, 0>>,
    ?assertEqual(binary_to_term(Trailing, [safe]), ferry_protocol:decode(Trailing)),
    Short = binary:part(frame({body, 1, <<"abc">>}), 0, 15),
    ?assertEqual({error, Short}, ferry_protocol:decode(Short)).

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
%%% WebSocket

decode(Frame) -> binary_to_term(iolist_to_binary(Frame)).

ws_commands_round_trip_test() ->
    Frames = [{text, <<"hé">>}, {binary, [<<1, 2>>, 3]}, {ping, <<>>}, {pong, "p"},
              {close, 4000, <<"bye">>}, close],
    Flat = [{text, <<"hé"/utf8>>}, {binary, <<1, 2, 3>>}, {ping, <<>>}, {pong, <<"p">>},
            {close, 4000, <<"bye">>}, close],
    ?assertEqual({ws_send, 7, Flat}, decode(ferry_protocol:ws_send(7, [{text, <<"hé"/utf8>>} | tl(Frames)]))),
    ?assertEqual({ws_publish, <<"room">>, Flat},
                 decode(ferry_protocol:ws_publish(<<"room">>, [{text, <<"hé"/utf8>>} | tl(Frames)]))),
    ?assertEqual({ws_publish, <<"room">>, [], 1 bsl 40},
                 decode(ferry_protocol:ws_publish(<<"room">>, [], 1 bsl 40))),
    ?assertEqual({ws_join, 3, <<"g">>}, decode(ferry_protocol:ws_join(3, <<"g">>))),
    ?assertEqual({ws_leave, 3, <<"g">>}, decode(ferry_protocol:ws_leave(3, <<"g">>))),
    ?assertEqual({ws_accept, 9, [{<<"set-cookie">>, <<"a=b">>}], #{protocol => <<"chat">>}},
                 decode(ferry_protocol:ws_accept(9, [{<<"set-cookie">>, <<"a=b">>}],
                                                 #{protocol => <<"chat">>}))),
    ?assertError(badarg, ferry_protocol:ws_send(1, [{text, not_iodata}])).

%% Rust reads a list of ids as a list, never as a string (which
%% term_to_binary/1 makes of small integers).
ws_send_targets_are_a_list_test() ->
    <<131, 104, 3, 119, 7, "ws_send", 108, 3:32, _/binary>> =
        iolist_to_binary(ferry_protocol:ws_send([1, 2, 300], [close])),
    ?assertEqual({ws_send, [1, 2, 300], [close]}, decode(ferry_protocol:ws_send([1, 2, 300], [close]))),
    ?assertEqual({ws_send, [], []}, decode(ferry_protocol:ws_send([], []))),
    ?assertEqual({ws_send, [1 bsl 60], [close]}, decode(ferry_protocol:ws_send([1 bsl 60], [close]))),
    ?assertError(function_clause, ferry_protocol:ws_send([-1], [close])).

%% A large payload reaches the port as the caller's own binary.
ws_send_large_payload_test() ->
    Big = binary:copy(<<"x">>, 100000),
    Frame = ferry_protocol:ws_send(1, [{binary, Big}]),
    ?assert(lists:member(Big, lists:flatten(Frame))),
    ?assertEqual({ws_send, 1, [{binary, Big}]}, decode(Frame)).

ws_frame_test_() ->
    Ok = fun(C) -> ferry_protocol:ws_frame(C) =/= error end,
    [?_assertEqual({ok, {text, <<"abc">>}, 3}, ferry_protocol:ws_frame({text, <<"abc">>})),
     ?_assertEqual({ok, {binary, ["ab", <<"c">>]}, 3}, ferry_protocol:ws_frame({binary, ["ab", <<"c">>]})),
     ?_assertEqual({ok, {ping, <<>>}, 0}, ferry_protocol:ws_frame(ping)),
     ?_assertEqual({ok, close, 0}, ferry_protocol:ws_frame(close)),
     %% Control frames: 125 bytes pass, 126 do not (RFC 6455 5.5).
     ?_assert(Ok({ping, binary:copy(<<"a">>, 125)})),
     ?_assertNot(Ok({ping, binary:copy(<<"a">>, 126)})),
     ?_assert(Ok({pong, binary:copy(<<"a">>, 125)})),
     ?_assertNot(Ok({pong, binary:copy(<<"a">>, 126)})),
     %% A close reason: 123 bytes after the code (RFC 6455 5.5.1).
     ?_assert(Ok({close, 1000, binary:copy(<<"a">>, 123)})),
     ?_assertNot(Ok({close, 1000, binary:copy(<<"a">>, 124)})),
     %% Codes an endpoint may send (RFC 6455 7.4).
     [?_assert(Ok({close, C, <<>>})) || C <- [1000, 1001, 1002, 1003, 1007, 1011, 1014, 3000, 4999]],
     [?_assertNot(Ok({close, C, <<>>})) || C <- [0, 999, 1004, 1005, 1006, 1015, 1016, 2999, 5000]],
     ?_assertNot(Ok({close, 1000})),
     ?_assertNot(Ok({text, atom})),
     ?_assertNot(Ok({text, [1, 2 | 3]})),
     ?_assertNot(Ok({text, [256]})),
     ?_assertNot(Ok(stop)),
     ?_assertNot(Ok({continuation, <<>>})),
     ?_assertNot(Ok(<<"text">>))].

ws_runs_test() ->
    A = {binary, binary:copy(<<"a">>, 1000)},
    ?assertEqual([], ferry_protocol:ws_runs([], 2000)),
    ?assertEqual([[A, A, A]], ferry_protocol:ws_runs([A, A, A], infinity)),
    ?assertEqual([[A, A, A]], ferry_protocol:ws_runs([A, A, A], 100000)),
    %% Each run fits, order kept.
    ?assertEqual([[A], [A], [A]], ferry_protocol:ws_runs([A, A, A], 2000)),
    ?assertEqual([[A, close], [A]], ferry_protocol:ws_runs([A, close, A], 1600)),
    ?assert(ferry_protocol:ws_fits(A, 2000)),
    ?assertNot(ferry_protocol:ws_fits(A, 1024)),
    ?assertError({frame_too_large, _, 1024}, ferry_protocol:ws_runs([A], 1024)),
    [?assert(iolist_size(ferry_protocol:ws_send(1, Run)) =< 2000)
     || Run <- ferry_protocol:ws_runs([A, A, close, {ping, <<>>}], 2000)].

%% Every atom of PROTOCOL.md's WebSocket section decodes safely.
ws_events_decode_test() ->
    Events = [{ws_open, 1, #{deflate => true, protocol => undefined}},
              {ws_in, 1, text, <<"x">>}, {ws_in, 1, binary, <<>>},
              {ws_in, 1, ping, <<>>}, {ws_in, 1, pong, <<>>},
              {ws_closed, 1, remote, 1000, <<>>}, {ws_closed, 1, error, 1006, <<>>},
              {ws_closed, 1, shutdown, 1001, <<>>},
              {request, 1, #{websocket => ok}}, {request, 1, #{websocket => bad_version}},
              {request, 1, #{websocket => bad_request}},
              {ready, #{max_frame => 1, websocket => true}}],
    Atoms = ferry_protocol:atoms(),
    [?assert(lists:member(A, Atoms)) || E <- Events, A <- atoms_of(E)],
    [?assertEqual(E, ferry_protocol:decode(frame(E))) || E <- Events].

atoms_of(T) when is_atom(T) -> [T];
atoms_of(T) when is_tuple(T) -> atoms_of(tuple_to_list(T));
atoms_of(T) when is_map(T) -> atoms_of(maps:to_list(T));
atoms_of(T) when is_list(T) -> lists:append([atoms_of(E) || E <- T]);
atoms_of(_) -> [].
