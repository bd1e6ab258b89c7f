%% @doc Route table of a listener: patterns are compiled once when the
%% listener starts, then every request is matched against the compiled form.
%%
%% Pure: no process, no I/O. A pattern is a binary path whose segments are
%% literals, `:name' (binds one segment) or, last only, `[...]' (binds the
%% rest, possibly nothing, as `path_info'). Path segments are percent-decoded
%% before matching, as Cowboy's router does, so `/caf%C3%A9' matches `/café';
%% empty segments do not count, as in Plug, so `/a/' and `//a' are `/a'.
%% The Elixir router takes its segments from here too (docs/ERLANG_API.md,
%% "Paths and query strings").
%%
%% A handler is a module with `handle/1', a fun of arity 1, or
%% `{Module, Opts}' for a module with `handle(Req, Opts)' (as `ferry_static'
%% takes its directory). Such a module may export `init(Opts)', called once
%% here, which checks the options (raising on bad ones) and returns the
%% ones `handle/2' gets.
-module(ferry_router).

-export([compile/2, why/2, summary/1, match/3, match_route/3, split_path/1, pct_decode/1, is_token/1]).
-export_type([compiled/0, handler/0, method/0, result/0]).

-type handler() :: module() | fun((ferry_req:req()) -> term()) | {module(), term()}.
-type method() :: binary() | '_'.
-type segment() :: binary() | {bind, binary()}.
-record(route, {method :: method(),
                segments :: [segment()],
                wildcard :: boolean(),
                handler :: handler(),
                pattern :: binary()}).
-opaque compiled() :: {[#route{}], handler() | undefined}.
-type result() :: {ok, handler(), #{binary() => binary()}, [binary()] | undefined}
                | {error, not_found | bad_path | {method_not_allowed, binary()}}.

%% @doc Compiles `routes' and the catch-all `handler' of a listener.
%% Returns `{error, {bad_option, routes | handler}}' naming what is wrong;
%% `why/2' says which route and why, for people.
-spec compile([{method(), binary(), handler()}], handler() | undefined) ->
          {ok, compiled()} | {error, {bad_option, routes | handler}}.
compile(Routes, CatchAll) ->
    case check(Routes, CatchAll) of
        {ok, Compiled} -> {ok, Compiled};
        {error, Key, _Why} -> {error, {bad_option, Key}}
    end.

%% @doc Why `compile/2' refuses these routes and handler: which route
%% (its position and itself) and what is wrong with it.
-spec why([{method(), binary(), handler()}], handler() | undefined) -> unicode:chardata().
why(Routes, CatchAll) ->
    case check(Routes, CatchAll) of
        {ok, _} -> "";
        {error, _Key, Why} -> Why
    end.

check(Routes, CatchAll0) when is_list(Routes) ->
    case compile_catch_all(CatchAll0) of
        {error, Why} ->
            {error, handler, io_lib:format("handler ~0tp ~ts", [CatchAll0, Why])};
        {ok, CatchAll} ->
            Numbered = lists:zip(lists:seq(1, length(Routes)), Routes),
            try [compile_route(R) || R <- Numbered] of
                Compiled -> {ok, {Compiled, CatchAll}}
            catch throw:{bad_route, N, Route, Why} ->
                    {error, routes, io_lib:format("route ~b, ~0tp: ~ts", [N, Route, Why])}
            end
    end;
check(Routes, _) ->
    {error, routes, io_lib:format("routes must be a list of {Method, Path, Handler}, got: ~0tp",
                                  [Routes])}.

compile_route({N, {Method, Pattern, Handler} = Route}) ->
    Where = {N, Route},
    valid_method(Method)
        orelse bad(Where, "the method must be a binary token such as <<\"GET\">>, or '_' for any"),
    Compiled = case compile_handler(Handler) of
                   {ok, C} -> C;
                   {error, Why} -> bad(Where, "the handler " ++ Why)
               end,
    is_binary(Pattern)
        orelse bad(Where, "the path must be a binary such as <<\"/users/:id\">>"),
    {Segments, Wildcard} = compile_pattern(Pattern, Where),
    #route{method = Method, segments = Segments, wildcard = Wildcard, handler = Compiled,
           pattern = Pattern};
compile_route({N, Route}) ->
    bad({N, Route}, "a route is {Method, Path, Handler}").

-spec bad({pos_integer(), term()}, string()) -> no_return().
bad({N, Route}, Why) ->
    throw({bad_route, N, Route, Why}).

compile_pattern(<<"/", _/binary>> = Pattern, Where) ->
    Parts = case split_path(Pattern) of
                {ok, P} -> P;
                {error, bad_path} -> bad(Where, "the path has a % not followed by two hex digits")
            end,
    {Segments, Wildcard} = case lists:reverse(Parts) of
                               [<<"[...]">> | Rest] -> {lists:reverse(Rest), true};
                               _ -> {Parts, false}
                           end,
    Compiled = [compile_segment(S, Where) || S <- Segments],
    Names = [N || {bind, N} <- Compiled],
    %% "/a/:x/:x" would need both segments equal; nobody means that.
    length(Names) =:= length(lists:usort(Names))
        orelse bad(Where, "a :name is bound twice in the path"),
    {Compiled, Wildcard};
compile_pattern(_, Where) ->
    bad(Where, "the path must start with /").

compile_segment(<<"[...]">>, Where) -> bad(Where, "[...] may only be the last segment");
compile_segment(<<":", Name/binary>>, _Where) when Name =/= <<>> -> {bind, Name};
compile_segment(<<":">>, Where) -> bad(Where, "a : segment needs a name");
compile_segment(Literal, _Where) -> Literal.

valid_method('_') -> true;
valid_method(M) when is_binary(M), M =/= <<>> -> is_token(M);
valid_method(_) -> false.

%% @doc RFC 9110 5.6.2: is `Bin' a token (a method, a header name)?
-spec is_token(binary()) -> boolean().
is_token(Bin) ->
    lists:all(fun(C) -> (C >= $a andalso C =< $z) orelse (C >= $A andalso C =< $Z)
                            orelse (C >= $0 andalso C =< $9)
                            orelse lists:member(C, "!#$%&'*+-.^_`|~")
              end, binary_to_list(Bin)).

compile_catch_all(undefined) -> {ok, undefined};
compile_catch_all(Handler) -> compile_handler(Handler).

%% The handler as the request process calls it: a `{Module, Opts}' with
%% its options checked by `Module:init/1', if it has one.
compile_handler(F) when is_function(F, 1) ->
    {ok, F};
compile_handler(M) when is_atom(M), M =/= undefined ->
    case exports(M, handle, 1) of
        true -> {ok, M};
        false -> {error, "is not a module exporting handle/1 (is it compiled and in the code "
                         "path?), {Module, Opts} with handle/2, nor a fun of arity 1"}
    end;
compile_handler({M, Opts}) when is_atom(M), M =/= undefined ->
    case {exports(M, handle, 2), exports(M, init, 1)} of
        {false, _} -> {error, io_lib:format("~0tp does not export handle/2", [M])};
        {true, false} -> {ok, {M, Opts}};
        {true, true} ->
            try {ok, {M, M:init(Opts)}}
            catch error:Reason ->
                    {error, io_lib:format("refused its options: ~0tP", [Reason, 20])}
            end
    end;
compile_handler(_) ->
    {error, "is not a module exporting handle/1, {Module, Opts} with handle/2, nor a fun of "
            "arity 1"}.

exports(M, F, A) ->
    _ = code:ensure_loaded(M),
    erlang:function_exported(M, F, A).

%% @doc What answers a listener's requests, for its start-up line: the
%% catch-all handler alone, or how many routes (and the catch-all).
-spec summary(compiled()) -> handler() | {routes, pos_integer(), handler() | undefined}.
summary({[], CatchAll}) -> CatchAll;
summary({Routes, CatchAll}) -> {routes, length(Routes), CatchAll}.

%% @doc Finds the handler of a request. A matched path with another method
%% gives 405 with `allow' even when a catch-all exists: the path belongs to
%% a route. HEAD is served by a GET route when no route names HEAD. A path
%% with a bad `%' escape is 400 (`bad_path') even with a catch-all, so an
%% Elixir router (a catch-all) follows the same rule; a request target that
%% is not a path (`OPTIONS *') goes to the catch-all if there is one.
-spec match(binary(), binary(), compiled()) -> result().
match(Method, Path, Compiled) ->
    case match_route(Method, Path, Compiled) of
        {ok, Handler, Bindings, PathInfo, _Pattern} -> {ok, Handler, Bindings, PathInfo};
        Error -> Error
    end.

%% @doc `match/3', with the pattern of the route found (`<<"/users/:id">>')
%% for events and logs: `undefined' for the catch-all handler.
-spec match_route(binary(), binary(), compiled()) ->
          {ok, handler(), #{binary() => binary()}, [binary()] | undefined, binary() | undefined}
          | {error, not_found | bad_path | {method_not_allowed, binary()}}.
match_route(Method, Path, {Routes, CatchAll}) ->
    case split_path(Path) of
        {ok, Segments} -> match(Method, Segments, Routes, CatchAll, []);
        {error, bad_path} when CatchAll =/= undefined ->
            case Path of
                <<"/", _/binary>> -> {error, bad_path};
                _ -> {ok, CatchAll, #{}, undefined, undefined}
            end;
        {error, bad_path} -> {error, bad_path}
    end.

match(Method, Segments, [R | Rest], CatchAll, Allowed) ->
    case match_segments(R#route.segments, Segments, R#route.wildcard, #{}) of
        nomatch ->
            match(Method, Segments, Rest, CatchAll, Allowed);
        {Bindings, PathInfo} ->
            case method_matches(R#route.method, Method) of
                true -> {ok, R#route.handler, Bindings, PathInfo, R#route.pattern};
                false -> match(Method, Segments, Rest, CatchAll, [R#route.method | Allowed])
            end
    end;
match(_Method, _Segments, [], CatchAll, []) when CatchAll =/= undefined ->
    {ok, CatchAll, #{}, undefined, undefined};
match(_Method, _Segments, [], _CatchAll, []) ->
    {error, not_found};
match(_Method, _Segments, [], _CatchAll, Allowed) ->
    {error, {method_not_allowed, allow_header(Allowed)}}.

method_matches('_', _) -> true;
method_matches(M, M) -> true;
method_matches(<<"GET">>, <<"HEAD">>) -> true;
method_matches(_, _) -> false.

allow_header(Methods) ->
    WithHead = case lists:member(<<"GET">>, Methods) of
                   true -> [<<"HEAD">> | Methods];
                   false -> Methods
               end,
    iolist_to_binary(lists:join(<<", ">>, lists:usort(WithHead))).

match_segments([], Rest, true, Bindings) ->
    {Bindings, Rest};
match_segments([], [], false, Bindings) ->
    {Bindings, undefined};
match_segments([{bind, Name} | Pattern], [Seg | Rest], Wildcard, Bindings) ->
    match_segments(Pattern, Rest, Wildcard, Bindings#{Name => Seg});
match_segments([Seg | Pattern], [Seg | Rest], Wildcard, Bindings) ->
    match_segments(Pattern, Rest, Wildcard, Bindings);
match_segments(_, _, _, _) ->
    nomatch.

%% @doc Splits an absolute path into percent-decoded segments, empty ones
%% left out: `/' is `[]', `/a/b' and `//a/b/' are `[a, b]', `/a%2Fb' is
%% `[<<"a/b">>]'. `{error, bad_path}' for a `%' not followed by two hex
%% digits, or a path not starting with `/'.
-spec split_path(binary()) -> {ok, [binary()]} | {error, bad_path}.
split_path(<<"/", Path/binary>>) ->
    try [strict_decode(S) || S <- binary:split(Path, <<"/">>, [global]), S =/= <<>>] of
        Segments -> {ok, Segments}
    catch throw:bad_path -> {error, bad_path}
    end;
split_path(_) ->
    {error, bad_path}.

strict_decode(Segment) ->
    case pct_decode(Segment) of
        {ok, Decoded} -> Decoded;
        error -> throw(bad_path)
    end.

%% @doc Percent-decodes `Bin'; `error' on a `%' not followed by two hex digits.
-spec pct_decode(binary()) -> {ok, binary()} | error.
pct_decode(Bin) ->
    case binary:match(Bin, <<"%">>) of
        nomatch -> {ok, Bin};
        _ -> pct_decode(Bin, <<>>)
    end.

pct_decode(<<$%, H, L, Rest/binary>>, Acc) ->
    case {unhex(H), unhex(L)} of
        {Hi, Lo} when is_integer(Hi), is_integer(Lo) ->
            pct_decode(Rest, <<Acc/binary, (Hi * 16 + Lo)>>);
        _ -> error
    end;
pct_decode(<<$%, _/binary>>, _Acc) ->
    error;
pct_decode(<<C, Rest/binary>>, Acc) ->
    pct_decode(Rest, <<Acc/binary, C>>);
pct_decode(<<>>, Acc) ->
    {ok, Acc}.

unhex(C) when C >= $0, C =< $9 -> C - $0;
unhex(C) when C >= $a, C =< $f -> C - $a + 10;
unhex(C) when C >= $A, C =< $F -> C - $A + 10;
unhex(_) -> undefined.
