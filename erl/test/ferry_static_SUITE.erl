%% ferry_static against a fixture directory made here: types, validators
%% and 304s, ranges (206, 416, several), HEAD, precompressed siblings, an
%% index file, and every way out of the root we could think of (encoded
%% dots and slashes, backslashes, NUL, symlinks, FIFOs).
%%
%% The 200 and 206 answers go out with send_file, which the Rust side
%% must know (docs/PROTOCOL.md "Files").
-module(ferry_static_SUITE).
-include_lib("common_test/include/ct.hrl").
-include_lib("stdlib/include/assert.hrl").
-include_lib("kernel/include/file.hrl").

-export([all/0, init_per_suite/1, end_per_suite/1]).
-export([types/1, validators/1, if_none_match/1, if_none_match_star/1,
         if_modified_since/1, if_modified_since_not_modified/1, ranges/1,
         range_unsatisfiable/1, several_ranges/1, if_range/1, head/1, precompressed/1,
         precompressed_off/1, traversal/1, symlinks_out/1, symlinks_in/1,
         outside_symlinks_allowed/1, not_regular/1, index/1, index_redirect/1,
         other_methods/1, missing/1, extra_headers/1, empty_file/1]).

%% 2024-01-02 03:04:05 UTC: every fixture file's mtime.
-define(MTIME, 1704164645).
-define(SECRET, <<"TOP-SECRET-OUTSIDE-THE-ROOT">>).

all() ->
    [types, validators, if_none_match, if_none_match_star, if_modified_since,
     if_modified_since_not_modified, ranges, range_unsatisfiable, several_ranges, if_range,
     head, precompressed, precompressed_off, traversal, symlinks_out, symlinks_in,
     outside_symlinks_allowed, not_regular, index, index_redirect, other_methods, missing,
     extra_headers, empty_file].

init_per_suite(Config0) ->
    Config = ferry_test_lib:init_per_suite(Config0),
    Base = filename:join(?config(priv_dir, Config), "static"),
    Root = filename:join(Base, "root"),
    fixture(Base, Root),
    Static = fun(Extra) -> {ferry_static, maps:merge(#{dir => Root}, Extra)} end,
    Routes = [{<<"GET">>, <<"/static/[...]">>, Static(#{})},
              {'_', <<"/any/[...]">>, Static(#{})},
              {<<"GET">>, <<"/idx/[...]">>, Static(#{index => <<"index.html">>})},
              {<<"GET">>, <<"/plain/[...]">>, Static(#{gzip => false, brotli => false})},
              {<<"GET">>, <<"/follow/[...]">>, Static(#{outside_symlinks => true})},
              {<<"GET">>, <<"/hdr/[...]">>,
               Static(#{headers => [{<<"cache-control">>, <<"public, max-age=60">>}]})}],
    Port = ferry_test_lib:start(static, #{routes => Routes}),
    [{port, Port}, {root, Root}, {base, Base} | Config].

end_per_suite(Config) ->
    ok = ferry:stop_listener(static),
    ferry_test_lib:end_per_suite(Config).

fixture(Base, Root) ->
    Files = [{"hello.txt", <<"hello, world\n">>},
             {"style.css", <<"body { color: teal }\n">>},
             {"app.js", binary:copy(<<"console.log('ferry');\n">>, 50)},
             {"logo.png", <<137, "PNG\r\n", 26, "\n", 0, 0, 0, 13>>},
             {"data.json", <<"{\"a\": 1}">>},
             {"README", <<"no extension">>},
             {"empty.bin", <<>>},
             {"digits.txt", <<"0123456789">>},
             {"sub/index.html", <<"<h1>index</h1>">>},
             {"sub/deep/x.json", <<"[]">>},
             {"nested/app.js", <<"nested">>}],
    [write(filename:join(Root, Name), Data) || {Name, Data} <- Files],
    %% Precompressed siblings of app.js (the br one is only marked: the
    %% server never reads them, it only picks them).
    write(filename:join(Root, "app.js.gz"), zlib:gzip(proplists:get_value("app.js", Files))),
    write(filename:join(Root, "app.js.br"), <<"BROTLI BYTES">>),
    %% Outside the root, what every attack wants.
    write(filename:join(Base, "secret.txt"), ?SECRET),
    write(filename:join([Base, "outside", "secret.txt"]), ?SECRET),
    write(filename:join(Base, "root-evil/secret.txt"), ?SECRET),
    Abs = filename:absname(filename:join([Base, "outside", "secret.txt"])),
    ok = file:make_symlink("hello.txt", filename:join(Root, "link_in.txt")),
    ok = file:make_symlink("sub", filename:join(Root, "linkdir_in")),
    ok = file:make_symlink("../outside/secret.txt", filename:join(Root, "link_out.txt")),
    ok = file:make_symlink("../outside", filename:join(Root, "linkdir_out")),
    ok = file:make_symlink(Abs, filename:join(Root, "abs_link.txt")),
    %% A root that is a prefix of another directory's name.
    ok = file:make_symlink("../root-evil/secret.txt", filename:join(Root, "prefix_link.txt")),
    %% A chain that comes back in is fine; a loop is not.
    ok = file:make_symlink("../root/hello.txt", filename:join(Root, "out_and_in.txt")),
    ok = file:make_symlink("loop_b", filename:join(Root, "loop_a")),
    ok = file:make_symlink("loop_a", filename:join(Root, "loop_b")),
    %% A gzip sibling that leads out of the root is not served either.
    write(filename:join(Root, "sneaky.js"), <<"sneaky">>),
    ok = file:make_symlink("../secret.txt", filename:join(Root, "sneaky.js.gz")),
    [] = os:cmd("mkfifo " ++ filename:join(Root, "fifo")),
    ok.

write(Path, Data) ->
    ok = filelib:ensure_dir(Path),
    ok = file:write_file(Path, Data),
    ok = file:write_file_info(Path, #file_info{mtime = ?MTIME, atime = ?MTIME}, [{time, posix}]).

%%% HTTP

get(Config, Path) -> request(Config, <<"GET">>, Path, []).
get(Config, Path, Headers) -> request(Config, <<"GET">>, Path, Headers).

%% One request per connection, closed after the answer: bodies without a
%% length (304, errors) end with the connection.
request(Config, Method, Path, Headers) ->
    Bytes = [Method, " ", Path, " HTTP/1.1\r\nhost: x\r\nconnection: close\r\n",
             [[N, ": ", V, "\r\n"] || {N, V} <- Headers], "\r\n"],
    S = ferry_test_lib:connect(?config(port, Config)),
    ferry_test_lib:send_request(S, Bytes),
    Response = case Method of
                   <<"HEAD">> ->
                       {Status, H} = ferry_test_lib:recv_head(S, 15000),
                       %% Nothing may follow the head.
                       {error, closed} = gen_tcp:recv(S, 0, 15000),
                       {Status, H, <<>>};
                   _ ->
                       ferry_test_lib:recv_response(S)
               end,
    gen_tcp:close(S),
    Response.

h(Name, Headers) -> proplists:get_value(Name, Headers).

file(Config, Name) ->
    {ok, Data} = file:read_file(filename:join(?config(root, Config), Name)),
    Data.

%%% Cases

types(Config) ->
    [begin
         {200, H, Body} = get(Config, <<"/static/", Name/binary>>),
         ?assertEqual({Name, Type}, {Name, h(<<"content-type">>, H)}),
         ?assertEqual(file(Config, Name), Body)
     end
     || {Name, Type} <- [{<<"hello.txt">>, <<"text/plain; charset=utf-8">>},
                         {<<"style.css">>, <<"text/css; charset=utf-8">>},
                         {<<"app.js">>, <<"text/javascript; charset=utf-8">>},
                         {<<"logo.png">>, <<"image/png">>},
                         {<<"data.json">>, <<"application/json">>},
                         {<<"README">>, <<"application/octet-stream">>},
                         {<<"sub/deep/x.json">>, <<"application/json">>}]].

validators(Config) ->
    {200, H, <<"0123456789">>} = get(Config, <<"/static/digits.txt">>),
    ?assertEqual(<<"10">>, h(<<"content-length">>, H)),
    ?assertEqual(<<"bytes">>, h(<<"accept-ranges">>, H)),
    ?assertEqual(<<"Tue, 02 Jan 2024 03:04:05 GMT">>, h(<<"last-modified">>, H)),
    ETag = h(<<"etag">>, H),
    ?assertMatch(<<"\"", _/binary>>, ETag),
    ?assertEqual($", binary:last(ETag)),
    %% Another size or mtime, another etag.
    {200, H2, _} = get(Config, <<"/static/hello.txt">>),
    ?assertNotEqual(ETag, h(<<"etag">>, H2)).

if_none_match(Config) ->
    {200, H, _} = get(Config, <<"/static/hello.txt">>),
    ETag = h(<<"etag">>, H),
    [begin
         {304, H304, <<>>} = get(Config, <<"/static/hello.txt">>, [{<<"if-none-match">>, V}]),
         ?assertEqual(ETag, h(<<"etag">>, H304))
     end || V <- [ETag, <<"W/", ETag/binary>>, <<"\"other\", ", ETag/binary>>]],
    {200, _, <<"hello, world\n">>} =
        get(Config, <<"/static/hello.txt">>, [{<<"if-none-match">>, <<"\"other\"">>}]),
    %% if-none-match decides when present: if-modified-since is ignored.
    {200, _, _} = get(Config, <<"/static/hello.txt">>,
                      [{<<"if-none-match">>, <<"\"other\"">>},
                       {<<"if-modified-since">>, <<"Tue, 02 Jan 2024 03:04:05 GMT">>}]).

%% The 304s need no file sent: they pass whatever the port knows of files.
if_none_match_star(Config) ->
    {304, H, <<>>} = get(Config, <<"/static/hello.txt">>, [{<<"if-none-match">>, <<"*">>}]),
    ?assertMatch(<<"\"", _/binary>>, h(<<"etag">>, H)),
    ?assertEqual(<<"Tue, 02 Jan 2024 03:04:05 GMT">>, h(<<"last-modified">>, H)),
    ?assertEqual(<<"accept-encoding">>, h(<<"vary">>, H)),
    ?assertEqual(undefined, h(<<"content-type">>, H)).

if_modified_since_not_modified(Config) ->
    [{304, _, <<>>} = get(Config, <<"/static/hello.txt">>, [{<<"if-modified-since">>, D}])
     || D <- [<<"Tue, 02 Jan 2024 03:04:05 GMT">>,     % the mtime itself
              <<"Tuesday, 02-Jan-24 03:04:05 GMT">>,   % RFC 850
              <<"Tue Jan  2 03:04:05 2024">>,          % asctime
              <<"Fri, 01 Jan 2100 00:00:00 GMT">>]].

if_modified_since(Config) ->
    [{200, _, <<"hello, world\n">>} =
         get(Config, <<"/static/hello.txt">>, [{<<"if-modified-since">>, D}])
     || D <- [<<"Tue, 02 Jan 2024 03:04:04 GMT">>, <<"not a date">>]].

ranges(Config) ->
    R = fun(Range) -> get(Config, <<"/static/digits.txt">>, [{<<"range">>, Range}]) end,
    [begin
         {206, H, Body} = R(Range),
         ?assertEqual({Range, Expect, ContentRange},
                      {Range, Body, h(<<"content-range">>, H)}),
         ?assertEqual(integer_to_binary(byte_size(Expect)), h(<<"content-length">>, H))
     end
     || {Range, Expect, ContentRange} <- [{<<"bytes=0-4">>, <<"01234">>, <<"bytes 0-4/10">>},
                                          {<<"bytes=7-">>, <<"789">>, <<"bytes 7-9/10">>},
                                          {<<"bytes=-2">>, <<"89">>, <<"bytes 8-9/10">>},
                                          {<<"bytes=9-100">>, <<"9">>, <<"bytes 9-9/10">>},
                                          {<<"bytes=3-3">>, <<"3">>, <<"bytes 3-3/10">>}]].

range_unsatisfiable(Config) ->
    [begin
         {416, H, _} = get(Config, <<"/static/digits.txt">>, [{<<"range">>, Range}]),
         ?assertEqual(<<"bytes */10">>, h(<<"content-range">>, H))
     end || Range <- [<<"bytes=10-">>, <<"bytes=50-60">>, <<"bytes=-0">>]].

several_ranges(Config) ->
    [{200, _, <<"0123456789">>} = get(Config, <<"/static/digits.txt">>, [{<<"range">>, R}])
     || R <- [<<"bytes=0-1,5-6">>, <<"bytes=0-1, 20-30">>, <<"items=0-1">>, <<"bytes=5-1">>]].

if_range(Config) ->
    {200, H, _} = get(Config, <<"/static/digits.txt">>),
    ETag = h(<<"etag">>, H),
    Range = {<<"range">>, <<"bytes=0-1">>},
    {206, _, <<"01">>} = get(Config, <<"/static/digits.txt">>, [Range, {<<"if-range">>, ETag}]),
    {206, _, <<"01">>} = get(Config, <<"/static/digits.txt">>,
                             [Range, {<<"if-range">>, <<"Tue, 02 Jan 2024 03:04:05 GMT">>}]),
    [{200, _, <<"0123456789">>} =
         get(Config, <<"/static/digits.txt">>, [Range, {<<"if-range">>, V}])
     || V <- [<<"\"stale\"">>, <<"W/", ETag/binary>>, <<"Mon, 01 Jan 2024 00:00:00 GMT">>]].

head(Config) ->
    {200, H, <<>>} = request(Config, <<"HEAD">>, <<"/static/app.js">>, []),
    ?assertEqual(integer_to_binary(byte_size(file(Config, <<"app.js">>))),
                 h(<<"content-length">>, H)),
    ?assertEqual(<<"text/javascript; charset=utf-8">>, h(<<"content-type">>, H)),
    %% A range on HEAD is ignored (RFC 9110 14.2: GET only).
    {200, _, <<>>} = request(Config, <<"HEAD">>, <<"/static/app.js">>,
                             [{<<"range">>, <<"bytes=0-1">>}]).

precompressed(Config) ->
    Gz = file(Config, <<"app.js.gz">>),
    Br = file(Config, <<"app.js.br">>),
    Plain = file(Config, <<"app.js">>),
    AE = fun(V) -> get(Config, <<"/static/app.js">>, [{<<"accept-encoding">>, V}]) end,
    {200, HG, Gz} = AE(<<"gzip, deflate">>),
    ?assertEqual(<<"gzip">>, h(<<"content-encoding">>, HG)),
    ?assertEqual(<<"accept-encoding">>, h(<<"vary">>, HG)),
    ?assertEqual(<<"text/javascript; charset=utf-8">>, h(<<"content-type">>, HG)),
    ?assertEqual(Plain, zlib:gunzip(Gz)),
    {200, HB, Br} = AE(<<"gzip, deflate, br">>),
    ?assertEqual(<<"br">>, h(<<"content-encoding">>, HB)),
    {200, _, Gz} = AE(<<"br;q=0.5, gzip">>),
    {200, _, Br} = AE(<<"*">>),
    {200, HI, Plain} = AE(<<"br;q=0, gzip;q=0">>),
    ?assertEqual(undefined, h(<<"content-encoding">>, HI)),
    ?assertEqual(<<"accept-encoding">>, h(<<"vary">>, HI)),
    {200, _, Plain} = get(Config, <<"/static/app.js">>),
    %% Each representation has its own etag.
    ?assertEqual(3, length(lists:usort([h(<<"etag">>, X) || X <- [HG, HB, HI]]))),
    %% No sibling: the file itself.
    {200, _, <<"nested">>} = get(Config, <<"/static/nested/app.js">>,
                                 [{<<"accept-encoding">>, <<"gzip, br">>}]),
    %% A sibling that is a symlink out of the root is not one.
    {200, HS, <<"sneaky">>} = get(Config, <<"/static/sneaky.js">>,
                                  [{<<"accept-encoding">>, <<"gzip">>}]),
    ?assertEqual(undefined, h(<<"content-encoding">>, HS)).

precompressed_off(Config) ->
    {200, H, Plain} = get(Config, <<"/plain/app.js">>, [{<<"accept-encoding">>, <<"gzip, br">>}]),
    ?assertEqual(file(Config, <<"app.js">>), Plain),
    ?assertEqual(undefined, h(<<"content-encoding">>, H)),
    ?assertEqual(undefined, h(<<"vary">>, H)).

%% No way out of the root: each attempt is refused (400: a segment that
%% cannot be a file name; 404: no such file under the root), and the
%% secret never shows.
traversal(Config) ->
    Attempts = [<<"/static/../secret.txt">>,
                <<"/static/%2e%2e/secret.txt">>,
                <<"/static/%2E%2E/secret.txt">>,
                <<"/static/.%2e/secret.txt">>,
                <<"/static/%2e./secret.txt">>,
                <<"/static/..%2fsecret.txt">>,
                <<"/static/..%2Fsecret.txt">>,
                <<"/static/%2e%2e%2fsecret.txt">>,
                <<"/static/..%5csecret.txt">>,
                <<"/static/..%5Csecret.txt">>,
                <<"/static/..\\secret.txt">>,
                <<"/static/sub/../../secret.txt">>,
                <<"/static/sub/%2e%2e/%2e%2e/secret.txt">>,
                <<"/static/./../secret.txt">>,
                <<"/static/%2e/hello.txt">>,
                <<"/static/%2fetc%2fpasswd">>,
                <<"/static/%2Fetc%2Fpasswd">>,
                <<"/static//etc/passwd">>,
                <<"/static/sub//../../secret.txt">>,
                <<"/static/hello.txt%00.png">>,
                <<"/static/%00">>,
                <<"/static/..%00/secret.txt">>,
                <<"/static/%252e%252e/secret.txt">>,          % decoded once: a name
                <<"/static/..%c0%af/secret.txt">>,            % overlong UTF-8 '/'
                <<"/static/%c0%ae%c0%ae/secret.txt">>,        % overlong UTF-8 '.'
                <<"/static/..;/secret.txt">>,
                <<"/static/....//secret.txt">>,
                <<"/static/root-evil/secret.txt">>,
                <<"/static/../root-evil/secret.txt">>,
                <<"/static/%2e%2e/root-evil/secret.txt">>,
                <<"/static/outside/secret.txt">>,
                <<"/static/%2e%2e">>,
                <<"/static/..">>,
                <<"/idx/..">>,
                <<"/idx/%2e%2e/">>,
                <<"/follow/../secret.txt">>,
                <<"/follow/%2e%2e/secret.txt">>,
                <<"http://x/static/../secret.txt">>],         % absolute form
    [begin
         Response = get(Config, Path),
         {Status, _, Body} = Response,
         ?assert(lists:member(Status, [400, 404]), {Path, Response}),
         ?assertEqual(nomatch, binary:match(Body, ?SECRET), Path)
     end || Path <- Attempts].

symlinks_out(Config) ->
    [begin
         {404, _, Body} = get(Config, <<"/static/", Name/binary>>),
         ?assertEqual(nomatch, binary:match(Body, ?SECRET))
     end || Name <- [<<"link_out.txt">>, <<"linkdir_out/secret.txt">>, <<"abs_link.txt">>,
                     <<"prefix_link.txt">>, <<"loop_a">>]].

symlinks_in(Config) ->
    {200, _, <<"hello, world\n">>} = get(Config, <<"/static/link_in.txt">>),
    {200, _, <<"<h1>index</h1>">>} = get(Config, <<"/static/linkdir_in/index.html">>),
    %% Out and back in: what counts is where it ends.
    {200, _, <<"hello, world\n">>} = get(Config, <<"/static/out_and_in.txt">>).

outside_symlinks_allowed(Config) ->
    {200, _, ?SECRET} = get(Config, <<"/follow/link_out.txt">>),
    {200, _, ?SECRET} = get(Config, <<"/follow/abs_link.txt">>),
    {200, _, ?SECRET} = get(Config, <<"/follow/linkdir_out/secret.txt">>).

not_regular(Config) ->
    %% A FIFO would block whoever opens it; a directory without an index
    %% is not a file.
    [{404, _, _} = get(Config, P) || P <- [<<"/static/fifo">>, <<"/static/sub">>,
                                           <<"/static/sub/">>, <<"/static/">>,
                                           <<"/static">>, <<"/static/hello.txt/">>,
                                           <<"/static/hello.txt/x">>]].

index(Config) ->
    {200, H, <<"<h1>index</h1>">>} = get(Config, <<"/idx/sub/">>),
    ?assertEqual(<<"text/html; charset=utf-8">>, h(<<"content-type">>, H)).

index_redirect(Config) ->
    {301, H1, _} = get(Config, <<"/idx/sub">>),
    ?assertEqual(<<"/idx/sub/">>, h(<<"location">>, H1)),
    {301, H2, _} = get(Config, <<"/idx/sub?a=1">>),
    ?assertEqual(<<"/idx/sub/?a=1">>, h(<<"location">>, H2)),
    %% A directory without the index file: nothing to show.
    {404, _, _} = get(Config, <<"/idx/sub/deep/">>).

other_methods(Config) ->
    [begin
         {405, H, _} = request(Config, M, <<"/any/hello.txt">>, [{<<"content-length">>, <<"0">>}]),
         ?assertEqual(<<"GET, HEAD">>, h(<<"allow">>, H))
     end || M <- [<<"POST">>, <<"PUT">>, <<"DELETE">>]].

missing(Config) ->
    [{404, _, <<"Not Found\n">>} = get(Config, P)
     || P <- [<<"/static/nope.txt">>, <<"/static/sub/nope">>, <<"/static/nope/deeper">>]].

extra_headers(Config) ->
    {304, H304, _} = get(Config, <<"/hdr/hello.txt">>, [{<<"if-none-match">>, <<"*">>}]),
    ?assertEqual(<<"public, max-age=60">>, h(<<"cache-control">>, H304)),
    {200, H, _} = get(Config, <<"/hdr/hello.txt">>),
    ?assertEqual(<<"public, max-age=60">>, h(<<"cache-control">>, H)).

empty_file(Config) ->
    {200, H, <<>>} = get(Config, <<"/static/empty.bin">>),
    ?assertEqual(<<"0">>, h(<<"content-length">>, H)),
    {416, _, _} = get(Config, <<"/static/empty.bin">>, [{<<"range">>, <<"bytes=0-">>}]).
