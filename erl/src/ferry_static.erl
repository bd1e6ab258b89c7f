%% @doc A handler serving the files of a directory, after `cowboy_static'
%% and `Plug.Static':
%%
%% ```
%% {<<"GET">>, <<"/static/[...]">>, {ferry_static, #{dir => <<"priv/static">>}}}
%% '''
%%
%% The request's `path_info' (the segments the route's `[...]' bound) names
%% the file under `dir'. Responses carry `content-type' (by extension,
%% `ferry_mime'), `etag' (size and mtime), `last-modified' and
%% `accept-ranges'; `if-none-match' / `if-modified-since' give 304, a
%% single `range' 206 (416 when unsatisfiable; several ranges get the whole
%% file), and a `.br' / `.gz' sibling is sent to a client that accepts it.
%% The bytes go out with `ferry_req:send_file/4': they never enter the BEAM.
%%
%% A path can never leave `dir': a segment that is `.' or `..' or holds
%% `/', `\' or NUL once percent-decoded is 400; a file reached through a
%% symlink that leads out of `dir' is 404 (unless `outside_symlinks');
%% anything but a regular file is 404.
%%
%% Options (defaults in `ferry_opts:file_defaults(static)'): `dir'
%% (required), `index' (a file name served for a directory; a directory
%% asked without its trailing slash is redirected to it), `gzip', `brotli',
%% `outside_symlinks', `headers' (added to file responses, e.g.
%% cache-control), `mime_types' (extension => type, over ferry_mime's).
-module(ferry_static).

-include_lib("kernel/include/file.hrl").

-export([init/1, handle/2]).
%% Pure parts, exported for tests.
-export([parse_range/2, accepted_encodings/1, etag_matches/2, valid_segments/1]).

-type opts() :: #{dir := file:name_all(), index => binary() | undefined, gzip => boolean(),
                  brotli => boolean(), outside_symlinks => boolean(),
                  headers => ferry_req:headers(), mime_types => #{binary() => binary()}}.
-export_type([opts/0]).

%% Links followed in one path at most (Linux's own limit, ELOOP).
-define(MAX_LINKS, 40).
-define(TEXT, [{<<"content-type">>, <<"text/plain; charset=utf-8">>}]).

%% @doc Checks the options, fills in the defaults; raises
%% `error({bad_option, Key})'. ferry_router calls it once per route.
-spec init(map()) -> opts().
init(Opts) when is_map(Opts) ->
    All = maps:merge(ferry_opts:file_defaults(static), Opts),
    maps:is_key(dir, All) orelse error({bad_option, dir}),
    maps:foreach(fun check/2, All),
    All#{dir := unicode:characters_to_binary(filename:absname(maps:get(dir, All)))};
init(_) ->
    error({bad_option, opts}).

check(dir, D) when is_binary(D); is_list(D) -> ok;
check(index, I) when I =:= undefined; is_binary(I) ->
    I =:= undefined orelse valid_segments([I]) =:= ok orelse error({bad_option, index});
check(K, B) when is_boolean(B), K =:= gzip orelse K =:= brotli orelse K =:= outside_symlinks ->
    ok;
check(headers, H) when is_list(H); is_map(H) -> ok;
check(mime_types, M) when is_map(M) -> ok;
check(K, _) -> error({bad_option, K}).

%% @doc Serves the file `path_info' names under `dir'.
-spec handle(ferry_req:req(), map()) -> ferry_handler:result().
handle(#{method := Method} = Req, Opts0) when Method =:= <<"GET">>; Method =:= <<"HEAD">> ->
    Opts = init(Opts0),
    Segments = case ferry_req:path_info(Req) of
                   undefined -> [];
                   PathInfo -> PathInfo
               end,
    case valid_segments(Segments) of
        ok -> find(Req, Segments, Opts);
        error -> {400, ?TEXT, <<"Bad Request\n">>}
    end;
handle(_Req, _Opts) ->
    {405, [{<<"allow">>, <<"GET, HEAD">>} | ?TEXT], <<"Method Not Allowed\n">>}.

%% @doc Segments (percent-decoded) that name a path under the root: no
%% `.' or `..', no `/', `\' or NUL (they would make one segment several,
%% or end the name early), and no empty segment but a last one (a trailing
%% slash).
-spec valid_segments([binary()]) -> ok | error.
valid_segments([]) -> ok;
valid_segments([<<>>]) -> ok;
valid_segments([<<>> | _]) -> error;
valid_segments([<<".">> | _]) -> error;
valid_segments([<<"..">> | _]) -> error;
valid_segments([Seg | Rest]) ->
    case binary:match(Seg, [<<"/">>, <<"\\">>, <<0>>]) of
        nomatch -> valid_segments(Rest);
        _ -> error
    end.

find(Req, Segments, #{dir := Dir} = Opts) ->
    case realpath(Dir) of
        {ok, Root} ->
            %% The router drops empty segments (`/a/' is `/a'), so the
            %% trailing slash is read from the path itself.
            Slash = lists:last([none | Segments]) =:= <<>> orelse trailing_slash(Req),
            Names = [S || S <- Segments, S =/= <<>>],
            case resolve(Root, Names, Opts) of
                {ok, File, #file_info{type = regular} = Info} when not Slash ->
                    serve(Req, File, name(Dir, Names), Info, Root, Opts);
                {ok, DirPath, #file_info{type = directory}} ->
                    directory(Req, DirPath, Slash, Root, Opts);
                _ ->
                    not_found()
            end;
        {error, _} ->
            not_found()
    end.

trailing_slash(#{path := Path}) when byte_size(Path) > 0 -> binary:last(Path) =:= $/;
trailing_slash(_) -> false.

%% The name the client asked for: its extension gives the type, even when
%% a symlink leads to a file named otherwise.
name(Dir, []) -> Dir;
name(_Dir, Names) -> lists:last(Names).

directory(_Req, _Path, _Slash, _Root, #{index := undefined}) ->
    not_found();
directory(#{path := Path, query := Query}, _DirPath, false, _Root, _Opts) ->
    %% Relative links in the index resolve against the directory only
    %% with its slash.
    Location = case Query of
                   <<>> -> <<Path/binary, "/">>;
                   _ -> <<Path/binary, "/?", Query/binary>>
               end,
    {301, [{<<"location">>, Location} | ?TEXT], <<"Moved Permanently\n">>};
directory(Req, DirPath, true, Root, #{index := Index} = Opts) ->
    case resolve(DirPath, [Index], Opts#{root => Root}) of
        {ok, File, #file_info{type = regular} = Info} ->
            serve(Req, File, Index, Info, Root, Opts);
        _ ->
            not_found()
    end.

not_found() ->
    {404, ?TEXT, <<"Not Found\n">>}.

%% The real path of `Names' under `Base' and its file_info, if it stays
%% under the root (or the options let symlinks lead out of it).
resolve(Base, Names, Opts) ->
    Root = maps:get(root, Opts, Base),
    case walk(Base, Names, 0) of
        {ok, Real} ->
            case inside(Real, Root) orelse maps:get(outside_symlinks, Opts) of
                true ->
                    case file:read_file_info(Real, [raw, {time, posix}]) of
                        {ok, Info} -> {ok, Real, Info};
                        Error -> Error
                    end;
                false ->
                    {error, outside}
            end;
        Error ->
            Error
    end.

inside(Path, Root) ->
    Size = byte_size(Root),
    case Path of
        Root -> true;
        <<Root:Size/binary, "/", _/binary>> -> true;
        _ when Root =:= <<"/">> -> true;
        _ -> false
    end.

%% @private The path with every symlink in it followed: what the kernel
%% would open. Erlang has no realpath(3).
realpath(Path) ->
    Abs = unicode:characters_to_binary(filename:absname(Path)),
    [<<"/">> | Names] = filename:split(Abs),
    walk(<<"/">>, Names, 0).

walk(_Dir, _Names, Links) when Links > ?MAX_LINKS ->
    {error, eloop};
walk(Dir, [], _Links) ->
    {ok, Dir};
walk(Dir, [Name | Rest], Links) when Name =:= <<".">>; Name =:= <<>> ->
    walk(Dir, Rest, Links);
walk(Dir, [<<"..">> | Rest], Links) ->
    walk(filename:dirname(Dir), Rest, Links);
walk(_Dir, [<<"/">> | Rest], Links) ->
    walk(<<"/">>, Rest, Links);
walk(Dir, [Name | Rest], Links) ->
    case binary:match(Name, <<"/">>) of
        %% The segments are checked already, but the containment check
        %% must not depend on it: one name is one component.
        {_, _} -> walk(Dir, filename:split(Name) ++ Rest, Links);
        nomatch -> walk_name(Dir, Name, Rest, Links)
    end.

walk_name(Dir, Name, Rest, Links) ->
    Path = filename:join(Dir, Name),
    case file:read_link_info(Path, [raw]) of
        {ok, #file_info{type = symlink}} ->
            case file:read_link_all(Path) of
                {ok, Target} ->
                    TargetBin = unicode:characters_to_binary(Target),
                    case filename:split(TargetBin) of
                        [<<"/">> | Names] -> walk(<<"/">>, Names ++ Rest, Links + 1);
                        Names -> walk(Dir, Names ++ Rest, Links + 1)
                    end;
                Error ->
                    Error
            end;
        {ok, _} ->
            walk(Path, Rest, Links);
        Error ->
            Error
    end.

%%% The response

serve(#{method := Method} = Req, File, Name, Info, Root, Opts) ->
    Type = ferry_mime:from_path(Name, maps:get(mime_types, Opts)),
    {Sent, SentInfo, Encoding} = variant(Req, File, Info, Root, Opts),
    #file_info{size = Size, mtime = MTime} = SentInfo,
    ETag = etag(SentInfo, Encoding),
    Validators = [{<<"etag">>, ETag}, {<<"last-modified">>, ferry_date:format(MTime)}],
    Vary = case maps:get(gzip, Opts) orelse maps:get(brotli, Opts) of
               true -> [{<<"vary">>, <<"accept-encoding">>}];
               false -> []
           end,
    Extra = ferry_req:encode_headers(maps:get(headers, Opts)),
    case not_modified(Req, ETag, MTime) of
        true ->
            {304, Validators ++ Vary ++ Extra, <<>>};
        false ->
            Headers = [{<<"content-type">>, Type}, {<<"accept-ranges">>, <<"bytes">>}]
                ++ [{<<"content-encoding">>, E} || E <- [Encoding], E =/= identity]
                ++ Validators ++ Vary ++ Extra,
            %% RFC 9110 14.2: range requests are defined for GET only.
            Range = case Method =:= <<"GET">> andalso if_range(Req, ETag, MTime) of
                        true -> parse_range(ferry_req:header(<<"range">>, Req), Size);
                        false -> ignore
                    end,
            case Range of
                {ok, Offset, Length} ->
                    ContentRange = iolist_to_binary(
                                     io_lib:format("bytes ~b-~b/~b",
                                                   [Offset, Offset + Length - 1, Size])),
                    {done, ferry_req:send_file(206, [{<<"content-range">>, ContentRange} | Headers],
                                               {Sent, Offset, Length}, Req)};
                unsatisfiable ->
                    {416, [{<<"content-range">>, <<"bytes */", (integer_to_binary(Size))/binary>>}
                           | ?TEXT], <<"Range Not Satisfiable\n">>};
                ignore ->
                    {done, ferry_req:send_file(200, Headers, {Sent, 0, Size}, Req)}
            end
    end.

%% A precompressed sibling (`app.js.br', `app.js.gz') when the client takes
%% its encoding, the best by the client's q-values (br on a tie): the
%% path, its file_info and its content-encoding.
variant(Req, File, Info, Root, Opts) ->
    Offered = [{<<"br">>, <<".br">>} || maps:get(brotli, Opts)]
        ++ [{<<"gzip">>, <<".gz">>} || maps:get(gzip, Opts)],
    Accepted = case Offered of
                   [] -> [];
                   _ -> accepted_encodings(ferry_req:header(<<"accept-encoding">>, Req, <<>>))
               end,
    Candidates = lists:sort(fun({QA, _, _}, {QB, _, _}) -> QA >= QB end,
                            [{Q, Coding, Suffix} || {Coding, Suffix} <- Offered,
                                                    Q <- [quality(Coding, Accepted)], Q > 0]),
    first_variant(Candidates, File, Info, Root, Opts).

first_variant([], File, Info, _Root, _Opts) ->
    {File, Info, identity};
first_variant([{_, Coding, Suffix} | Rest], File, Info, Root, Opts) ->
    Dir = filename:dirname(File),
    Sibling = <<(filename:basename(File))/binary, Suffix/binary>>,
    case resolve(Dir, [Sibling], Opts#{root => Root}) of
        {ok, Path, #file_info{type = regular} = SInfo} -> {Path, SInfo, Coding};
        _ -> first_variant(Rest, File, Info, Root, Opts)
    end.

quality(Coding, Accepted) ->
    case lists:keyfind(Coding, 1, Accepted) of
        {_, Q} -> Q;
        false ->
            case lists:keyfind(<<"*">>, 1, Accepted) of
                {_, Q} -> Q;
                false -> 0
            end
    end.

%% @doc The codings of an `accept-encoding' value with their q-values
%% (0..1000; a coding without one is 1000). Unreadable elements are skipped.
-spec accepted_encodings(binary()) -> [{binary(), 0..1000}].
accepted_encodings(Value) ->
    lists:filtermap(fun accepted_encoding/1, binary:split(Value, <<",">>, [global])).

accepted_encoding(Element) ->
    case [string:trim(P) || P <- binary:split(Element, <<";">>, [global])] of
        [<<>> | _] -> false;
        [Coding] -> {true, {string:lowercase(Coding), 1000}};
        [Coding, Param | _] ->
            case binary:split(Param, <<"=">>) of
                [Q, Value] when Q =:= <<"q">>; Q =:= <<"Q">> ->
                    case qvalue(string:trim(Value)) of
                        {ok, N} -> {true, {string:lowercase(Coding), N}};
                        error -> false
                    end;
                _ -> false
            end
    end.

%% RFC 9110 12.4.2: "0", "0.5", "1", "1.000": in thousandths.
qvalue(<<"1">>) -> {ok, 1000};
qvalue(<<"1.", Zeros/binary>>) when byte_size(Zeros) =< 3 ->
    case Zeros =:= binary:copy(<<"0">>, byte_size(Zeros)) of
        true -> {ok, 1000};
        false -> error
    end;
qvalue(<<"0">>) -> {ok, 0};
qvalue(<<"0.", Digits/binary>>) when byte_size(Digits) =< 3 ->
    Padded = <<Digits/binary, (binary:copy(<<"0">>, 3 - byte_size(Digits)))/binary>>,
    case lists:all(fun(C) -> C >= $0 andalso C =< $9 end, binary_to_list(Padded)) of
        true -> {ok, binary_to_integer(Padded)};
        false -> error
    end;
qvalue(_) -> error.

%% A strong validator: another size or mtime is another etag, and each
%% encoding of the file has its own.
etag(#file_info{size = Size, mtime = MTime}, Encoding) ->
    Suffix = case Encoding of
                 identity -> <<>>;
                 <<"gzip">> -> <<"-gz">>;
                 <<"br">> -> <<"-br">>
             end,
    iolist_to_binary([$", integer_to_binary(Size, 16), $-, integer_to_binary(MTime, 16),
                      Suffix, $"]).

%% RFC 9110 13.1.2 and 13.2.2: if-none-match when present (weak
%% comparison), else if-modified-since.
not_modified(Req, ETag, MTime) ->
    case ferry_req:header(<<"if-none-match">>, Req) of
        undefined ->
            case ferry_req:header(<<"if-modified-since">>, Req) of
                undefined -> false;
                Since ->
                    case ferry_date:parse(Since) of
                        {ok, Time} -> MTime =< Time;
                        error -> false
                    end
            end;
        Tags ->
            etag_matches(Tags, ETag)
    end.

%% @doc Does an `if-none-match' value match `ETag'? `*' matches any; the
%% comparison is weak (`W/"x"' matches `"x"').
-spec etag_matches(binary(), binary()) -> boolean().
etag_matches(Tags, ETag) ->
    case string:trim(Tags) of
        <<"*">> -> true;
        _ -> lists:member(weak(ETag), [weak(string:trim(T))
                                       || T <- binary:split(Tags, <<",">>, [global])])
    end.

weak(<<"W/", Tag/binary>>) -> Tag;
weak(Tag) -> Tag.

%% RFC 9110 13.1.5: a range is used only if `if-range' (when present) names
%% the current representation: its etag (strong comparison) or its exact
%% last-modified date.
if_range(Req, ETag, MTime) ->
    case ferry_req:header(<<"if-range">>, Req) of
        undefined -> true;
        <<"W/", _/binary>> -> false;
        <<"\"", _/binary>> = Tag -> Tag =:= ETag;
        Date -> ferry_date:parse(Date) =:= {ok, MTime}
    end.

%% @doc The `range' of a request for a file of `Size' bytes (RFC 9110 14.2):
%% `{ok, Offset, Length}' for one satisfiable range, `unsatisfiable' (416)
%% for one that starts past the end, `ignore' (send the whole file) for no
%% range, several ranges, another unit or a malformed value.
-spec parse_range(binary() | undefined, non_neg_integer()) ->
          {ok, non_neg_integer(), pos_integer()} | unsatisfiable | ignore.
parse_range(<<Unit:6/binary, Spec/binary>>, Size) ->
    case string:lowercase(Unit) of
        <<"bytes=">> -> range_spec(Spec, Size);
        _ -> ignore
    end;
parse_range(_, _Size) ->
    ignore.

range_spec(Spec, Size) ->
    case binary:split(string:trim(Spec), <<"-">>) of
        [<<>>, Suffix] ->
            case number(Suffix) of
                {ok, 0} -> unsatisfiable;
                {ok, _} when Size =:= 0 -> unsatisfiable;
                {ok, N} -> {ok, Size - min(N, Size), min(N, Size)};
                error -> ignore
            end;
        [First, <<>>] ->
            case number(First) of
                {ok, F} when F >= Size -> unsatisfiable;
                {ok, F} -> {ok, F, Size - F};
                error -> ignore
            end;
        [First, Last] ->
            case {number(First), number(Last)} of
                {{ok, F}, {ok, L}} when F > L -> ignore;
                {{ok, F}, {ok, _}} when F >= Size -> unsatisfiable;
                {{ok, F}, {ok, L}} -> {ok, F, min(L, Size - 1) - F + 1};
                _ -> ignore
            end;
        _ ->
            ignore
    end.

%% Digits only (a comma, i.e. several ranges, is not one), and few enough
%% that no client makes us build a bignum.
number(Bin) when byte_size(Bin) >= 1, byte_size(Bin) =< 19 ->
    case lists:all(fun(C) -> C >= $0 andalso C =< $9 end, binary_to_list(Bin)) of
        true -> {ok, binary_to_integer(Bin)};
        false -> error
    end;
number(_) ->
    error.
