%% The pure parts of ferry_static: ranges, accept-encoding, etags, path
%% segments. The handler itself is tested over sockets (ferry_static_SUITE).
-module(ferry_static_tests).
-include_lib("eunit/include/eunit.hrl").

range_test_() ->
    R = fun(H) -> ferry_static:parse_range(H, 100) end,
    [?_assertEqual({ok, 0, 100}, R(<<"bytes=0-">>)),
     ?_assertEqual({ok, 0, 1}, R(<<"bytes=0-0">>)),
     ?_assertEqual({ok, 10, 11}, R(<<"bytes=10-20">>)),
     ?_assertEqual({ok, 99, 1}, R(<<"bytes=99-">>)),
     ?_assertEqual({ok, 50, 50}, R(<<"bytes=50-1000">>)),    % last clamped to the end
     ?_assertEqual({ok, 90, 10}, R(<<"bytes=-10">>)),
     ?_assertEqual({ok, 0, 100}, R(<<"bytes=-1000">>)),      % suffix over the size: all
     ?_assertEqual({ok, 0, 5}, R(<<"Bytes=0-4">>)),
     ?_assertEqual(unsatisfiable, R(<<"bytes=100-">>)),
     ?_assertEqual(unsatisfiable, R(<<"bytes=100-200">>)),
     ?_assertEqual(unsatisfiable, R(<<"bytes=-0">>)),
     %% Several ranges, other units, nonsense: the whole file.
     ?_assertEqual(ignore, R(<<"bytes=0-1,5-6">>)),
     ?_assertEqual(ignore, R(<<"bytes=0-1, 5-6">>)),
     ?_assertEqual(ignore, R(<<"bytes=-5,0-1">>)),
     ?_assertEqual(ignore, R(<<"items=0-1">>)),
     ?_assertEqual(ignore, R(<<"bytes=5-1">>)),
     ?_assertEqual(ignore, R(<<"bytes=a-b">>)),
     ?_assertEqual(ignore, R(<<"bytes=-">>)),
     ?_assertEqual(ignore, R(<<"bytes=+1-2">>)),
     ?_assertEqual(ignore, R(<<"bytes=">>)),
     ?_assertEqual(ignore, R(<<"bytes=99999999999999999999999-">>)),
     ?_assertEqual(ignore, R(undefined))].

empty_file_ranges_test_() ->
    [?_assertEqual(unsatisfiable, ferry_static:parse_range(H, 0))
     || H <- [<<"bytes=0-">>, <<"bytes=0-0">>, <<"bytes=-1">>]].

accept_encoding_test_() ->
    A = fun ferry_static:accepted_encodings/1,
    [?_assertEqual([{<<"gzip">>, 1000}, {<<"deflate">>, 1000}, {<<"br">>, 1000}],
                   A(<<"gzip, deflate, br">>)),
     ?_assertEqual([{<<"br">>, 500}, {<<"gzip">>, 0}], A(<<"br;q=0.5, GZIP;q=0">>)),
     ?_assertEqual([{<<"*">>, 1000}, {<<"identity">>, 1}], A(<<"*, identity;q=0.001">>)),
     ?_assertEqual([{<<"gzip">>, 1000}], A(<<"gzip;q=1.000, br;q=2, x;q=0.1234">>)),
     ?_assertEqual([], A(<<>>)),
     ?_assertEqual([], A(<<" , ;q=1">>))].

etag_matches_test_() ->
    E = <<"\"1f-5e\"">>,
    [?_assert(ferry_static:etag_matches(<<"\"1f-5e\"">>, E)),
     ?_assert(ferry_static:etag_matches(<<"W/\"1f-5e\"">>, E)),
     ?_assert(ferry_static:etag_matches(<<"\"x\", \"1f-5e\"">>, E)),
     ?_assert(ferry_static:etag_matches(<<" * ">>, E)),
     ?_assertNot(ferry_static:etag_matches(<<"\"1f-5f\"">>, E)),
     ?_assertNot(ferry_static:etag_matches(<<"1f-5e">>, E))].

segments_test_() ->
    Ok = [[], [<<"a">>], [<<"a">>, <<"b.css">>], [<<"a">>, <<>>], [<<"...">>], [<<"..a">>],
          [<<"a b">>], [<<"é"/utf8>>]],
    Bad = [[<<"..">>], [<<".">>], [<<"a">>, <<"..">>, <<"b">>], [<<"a/b">>], [<<"..\\x">>],
           [<<"a\\b">>], [<<"a", 0, "b">>], [<<>>, <<"a">>], [<<"a">>, <<>>, <<"b">>],
           [<<"/etc">>]],
    [?_assertEqual(ok, ferry_static:valid_segments(S)) || S <- Ok] ++
    [?_assertEqual(error, ferry_static:valid_segments(S)) || S <- Bad].

init_test() ->
    #{dir := Dir, gzip := true, brotli := true, index := undefined} =
        ferry_static:init(#{dir => "rel/dir"}),
    ?assertEqual(filename:absname(<<"rel/dir">>), Dir),
    [?assertError({bad_option, K}, ferry_static:init(Opts))
     || {K, Opts} <- [{dir, #{}}, {dir, #{dir => 42}}, {nope, #{dir => <<"/d">>, nope => 1}},
                      {index, #{dir => <<"/d">>, index => <<"../x">>}},
                      {index, #{dir => <<"/d">>, index => <<"a/b">>}},
                      {gzip, #{dir => <<"/d">>, gzip => yes}},
                      {opts, not_a_map}]].
