-module(ferry_router_tests).
-include_lib("eunit/include/eunit.hrl").

-behaviour(ferry_handler).
-export([handle/1]).
handle(_Req) -> {200, [], <<>>}.

routes() ->
    [{<<"GET">>, <<"/">>, root},
     {<<"GET">>, <<"/users/:id">>, user},
     {<<"DELETE">>, <<"/users/:id">>, user_delete},
     {<<"GET">>, <<"/users/:id/files/[...]">>, files},
     {'_', <<"/any">>, any},
     {<<"POST">>, <<"/caf%C3%A9">>, cafe}].

%% Handlers are checked to export handle/1; the table uses atoms that are
%% not modules, so build it through a fun per name.
compiled() ->
    Routes = [{M, P, handler(H)} || {M, P, H} <- routes()],
    {ok, C} = ferry_router:compile(Routes, undefined),
    C.

handler(Name) -> fun(_) -> Name end.

match(Method, Path) ->
    case ferry_router:match(Method, Path, compiled()) of
        {ok, F, Bindings, PathInfo} -> {F(req), Bindings, PathInfo};
        Error -> Error
    end.

literal_and_root_test() ->
    ?assertEqual({root, #{}, undefined}, match(<<"GET">>, <<"/">>)).

binding_test() ->
    ?assertEqual({user, #{<<"id">> => <<"42">>}, undefined}, match(<<"GET">>, <<"/users/42">>)),
    ?assertEqual({user_delete, #{<<"id">> => <<"7">>}, undefined},
                 match(<<"DELETE">>, <<"/users/7">>)).

binding_is_percent_decoded_test() ->
    ?assertEqual({user, #{<<"id">> => <<"a b/c">>}, undefined},
                 match(<<"GET">>, <<"/users/a%20b%2Fc">>)).

literal_is_matched_decoded_test() ->
    ?assertEqual({cafe, #{}, undefined}, match(<<"POST">>, <<"/caf%C3%A9">>)),
    ?assertEqual({cafe, #{}, undefined}, match(<<"POST">>, <<"/caf%c3%a9">>)).

wildcard_test() ->
    ?assertEqual({files, #{<<"id">> => <<"1">>}, [<<"a">>, <<"b.txt">>]},
                 match(<<"GET">>, <<"/users/1/files/a/b.txt">>)),
    ?assertEqual({files, #{<<"id">> => <<"1">>}, []},
                 match(<<"GET">>, <<"/users/1/files">>)).

any_method_test() ->
    ?assertEqual({any, #{}, undefined}, match(<<"PATCH">>, <<"/any">>)).

head_uses_get_test() ->
    ?assertEqual({user, #{<<"id">> => <<"1">>}, undefined}, match(<<"HEAD">>, <<"/users/1">>)).

not_found_test() ->
    ?assertEqual({error, not_found}, match(<<"GET">>, <<"/nope">>)),
    ?assertEqual({error, not_found}, match(<<"GET">>, <<"/users">>)).

%% Empty segments do not count (as in Plug): a trailing slash is the same path.
empty_segments_test() ->
    ?assertEqual({user, #{<<"id">> => <<"1">>}, undefined}, match(<<"GET">>, <<"/users/1/">>)),
    ?assertEqual({user, #{<<"id">> => <<"1">>}, undefined}, match(<<"GET">>, <<"//users//1">>)).

method_not_allowed_test() ->
    ?assertEqual({error, {method_not_allowed, <<"DELETE, GET, HEAD">>}},
                 match(<<"PUT">>, <<"/users/1">>)),
    ?assertEqual({error, {method_not_allowed, <<"POST">>}}, match(<<"GET">>, <<"/caf%C3%A9">>)).

bad_path_test() ->
    ?assertEqual({error, bad_path}, match(<<"GET">>, <<"/users/%zz">>)),
    ?assertEqual({error, bad_path}, match(<<"GET">>, <<"/users/%4">>)),
    ?assertEqual({error, bad_path}, match(<<"OPTIONS">>, <<"*">>)).

catch_all_test() ->
    {ok, C} = ferry_router:compile([{<<"GET">>, <<"/a">>, handler(a)}], handler(all)),
    {ok, F1, _, _} = ferry_router:match(<<"GET">>, <<"/zzz">>, C),
    ?assertEqual(all, F1(req)),
    {ok, F2, _, _} = ferry_router:match(<<"OPTIONS">>, <<"*">>, C),
    ?assertEqual(all, F2(req)),
    %% A bad % escape is the client's error, for a catch-all (an Elixir
    %% router) as for routes: one rule for both sides.
    ?assertEqual({error, bad_path}, ferry_router:match(<<"GET">>, <<"/a%zz">>, C)),
    %% The path belongs to a route: 405 wins over the catch-all.
    ?assertEqual({error, {method_not_allowed, <<"GET, HEAD">>}},
                 ferry_router:match(<<"POST">>, <<"/a">>, C)).

module_handler_test() ->
    {ok, C} = ferry_router:compile([{<<"GET">>, <<"/m">>, ?MODULE}], undefined),
    ?assertMatch({ok, ?MODULE, #{}, undefined}, ferry_router:match(<<"GET">>, <<"/m">>, C)).

bad_routes_test_() ->
    H = handler(x),
    Bad = [not_a_list,
           [{<<"GET">>, <<"no-slash">>, H}],
           [{<<"GET">>, <<"/a/[...]/b">>, H}],
           [{<<"GET">>, <<"/a/:x/:x">>, H}],
           [{<<"GET">>, <<"/a/:">>, H}],
           [{<<"G ET">>, <<"/a">>, H}],
           [{get, <<"/a">>, H}],
           [{<<"GET">>, "/a", H}],
           [{<<"GET">>, <<"/a">>, fun(_, _) -> ok end}],
           [{<<"GET">>, <<"/a">>, no_such_module_here}],
           [{<<"GET">>, <<"/a">>}]],
    [?_assertEqual({error, {bad_option, routes}}, ferry_router:compile(R, undefined)) || R <- Bad].

bad_catch_all_test() ->
    ?assertEqual({error, {bad_option, handler}}, ferry_router:compile([], not_a_module_x)).

%% The path cases of the table both sides are tested with.
split_path_table_test_() ->
    {ok, Cases} = file:consult(filename:join(filename:dirname(?FILE), "ferry_uri_cases.eterm")),
    Paths = [{Path, Result} || {path, Path, Result} <- Cases],
    ?assert(length(Paths) >= 8),
    [?_assertEqual(Result, case ferry_router:split_path(Path) of
                               {ok, Segments} -> {ok, Segments};
                               {error, bad_path} -> bad_request
                           end) || {Path, Result} <- Paths].

split_path_test() ->
    ?assertEqual({error, bad_path}, ferry_router:split_path(<<"a">>)).

%% {Module, Opts}: Module:init/1 checks the options once, at compile time,
%% and its result is what handle/2 gets (ferry_router_opts_h).
module_with_opts_test() ->
    {ok, C} = ferry_router:compile([{<<"GET">>, <<"/s/[...]">>, {ferry_router_opts_h, #{n => 1}}}],
                                   {ferry_router_opts_h, #{n => 2}}),
    ?assertEqual({ok, {ferry_router_opts_h, #{n => 1, checked => true}}, #{}, [<<"a">>]},
                 ferry_router:match(<<"GET">>, <<"/s/a">>, C)),
    ?assertEqual({ok, {ferry_router_opts_h, #{n => 2, checked => true}}, #{}, undefined},
                 ferry_router:match(<<"GET">>, <<"/z">>, C)).

module_with_bad_opts_test_() ->
    Bad = [{ferry_router_opts_h, #{n => x}},    % init/1 raises
           {ferry_router_opts_h, not_a_map},
           {?MODULE, #{}},                        % no handle/2
           {no_such_module_here, #{}}],
    [?_assertEqual({error, {bad_option, routes}},
                   ferry_router:compile([{<<"GET">>, <<"/s/[...]">>, H}], undefined))
     || H <- Bad] ++
    [?_assertEqual({error, {bad_option, handler}}, ferry_router:compile([], H)) || H <- Bad].
