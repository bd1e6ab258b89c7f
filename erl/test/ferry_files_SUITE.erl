%% ferry_req:send_file/4 and ferry_req:read_body_to_file/2 over real
%% sockets: whole files and slices, HEAD, the errors the caller gets, and
%% bodies written to files (to a path, to a temporary file removed with
%% the handler, over a limit, inline or streamed, with their SHA-256).
%%
%% What Rust does (sendfile, body_to_file) needs the port to know
%% docs/PROTOCOL.md "Files"; what the BEAM decides alone (errors raised in
%% the caller, inline bodies) does not.
-module(ferry_files_SUITE).
-include_lib("common_test/include/ct.hrl").
-include_lib("stdlib/include/assert.hrl").

-export([all/0, init_per_suite/1, end_per_suite/1, init_per_testcase/2, end_per_testcase/2]).
-export([send_whole_file/1, send_slice/1, send_head/1, send_missing_raises/1,
         send_directory_raises/1, send_bad_length/1, send_big_file/1,
         to_file_inline/1, to_file_inline_too_large/1, to_file_streamed/1,
         to_file_streamed_path/1, to_file_streamed_too_large/1, to_file_after_read_body/1,
         to_file_disconnect/1]).

-define(MB, 1048576).

all() ->
    [send_whole_file, send_slice, send_head, send_missing_raises, send_directory_raises,
     send_bad_length, send_big_file, to_file_inline, to_file_inline_too_large,
     to_file_streamed, to_file_streamed_path, to_file_streamed_too_large,
     to_file_after_read_body, to_file_disconnect].

init_per_suite(Config0) ->
    Config = ferry_test_lib:init_per_suite(Config0),
    Dir = filename:join(?config(priv_dir, Config), "files"),
    Upload = filename:join(?config(priv_dir, Config), "uploads"),
    ok = filelib:ensure_path(Upload),
    ok = filelib:ensure_dir(filename:join(Dir, "x")),
    ok = file:write_file(filename:join(Dir, "digits.txt"), <<"0123456789">>),
    Routes = [{<<"GET">>, <<"/file/:name">>, fun send/1},
              {<<"POST">>, <<"/to_file">>, fun to_file/1},
              {<<"POST">>, <<"/read_then_file">>, fun read_then_file/1}],
    %% upload_dir is the port's option (docs/OPTIONS.md): a port that does
    %% not know files does not know it either.
    UploadDir = case lists:member(upload_dir, ferry_opts:rust_keys()) of
                    true -> #{upload_dir => list_to_binary(Upload)};
                    false -> #{}
                end,
    Port = ferry_test_lib:start(files, UploadDir#{routes => Routes}),
    persistent_term:put({?MODULE, dir}, Dir),
    [{port, Port}, {dir, Dir}, {upload, Upload} | Config].

end_per_suite(Config) ->
    ok = ferry:stop_listener(files),
    persistent_term:erase({?MODULE, dir}),
    ferry_test_lib:end_per_suite(Config).

init_per_testcase(_Case, Config) ->
    Config.

end_per_testcase(_Case, _Config) ->
    ok.

%%% Handlers

%% /file/Name?offset=O&length=L (or length=all): the file, or what
%% send_file raised, as a 404 naming it.
send(Req) ->
    Path = filename:join(persistent_term:get({?MODULE, dir}), ferry_req:binding(name, Req)),
    Qs = ferry_req:parse_qs(Req),
    What = case {proplists:get_value(<<"offset">>, Qs), proplists:get_value(<<"length">>, Qs)} of
               {undefined, undefined} -> Path;
               {O, <<"all">>} -> {Path, binary_to_integer(O), all};
               {O, L} -> {Path, binary_to_integer(O), binary_to_integer(L)}
           end,
    Headers = case proplists:get_value(<<"cl">>, Qs) of
                  undefined -> [{<<"content-type">>, <<"text/plain">>}];
                  CL -> [{<<"content-length">>, CL}]
              end,
    try ferry_req:send_file(200, Headers, What, Req) of
        Req1 -> {done, Req1}
    catch error:{ferry, send_file, {_, Reason}} ->
            {404, [], atom_to_binary(Reason)}
    end.

%% /to_file?path=P&max=M&digest=sha256: writes the body to a file, answers
%% with what read_body_to_file said and whether the file is tracked.
to_file(Req) ->
    Opts = maps:from_list([opt(K, V) || {K, V} <- ferry_req:parse_qs(Req)]),
    {ok, #{path := Path, bytes := Bytes, sha256 := Sha}, _} = ferry_req:read_body_to_file(Req, Opts),
    {ok, Data} = file:read_file(Path),
    Tracked = lists:member(Path, ferry_tmp:tracked()),
    {200, [], term_to_binary(#{path => Path, bytes => Bytes, sha256 => Sha, tracked => Tracked,
                               file_sha => crypto:hash(sha256, Data)})}.

opt(<<"path">>, P) -> {path, P};
opt(<<"max">>, M) -> {max, binary_to_integer(M)};
opt(<<"digest">>, <<"sha256">>) -> {digest, sha256}.

read_then_file(Req0) ->
    {more, _, Req} = ferry_req:read_body(Req0, #{length => 1000}),
    try ferry_req:read_body_to_file(Req, #{}) of
        _ -> {200, [], <<"allowed?!">>}
    catch error:{ferry, body_already_read} -> {409, [], <<"body_already_read">>}
    end.

%%% Clients

%% Bytes the BEAM has written to the listener's port so far.
port_output(Listener) ->
    {links, Links} = process_info(ferry_test_lib:port_owner(Listener), links),
    lists:sum([Bytes || P <- Links, is_port(P), {output, Bytes} <- [erlang:port_info(P, output)]]).

get(Config, Path) -> get(Config, Path, []).

get(Config, Path, Headers) ->
    ferry_test_lib:raw(?config(port, Config),
                       [<<"GET ">>, Path, <<" HTTP/1.1\r\nhost: x\r\nconnection: close\r\n">>,
                        [[N, ": ", V, "\r\n"] || {N, V} <- Headers], <<"\r\n">>]).

post(Config, Path, Body) ->
    ferry_test_lib:raw(?config(port, Config),
                       [<<"POST ">>, Path, <<" HTTP/1.1\r\nhost: x\r\nconnection: close\r\n">>,
                        <<"content-length: ">>, integer_to_binary(iolist_size(Body)),
                        <<"\r\n\r\n">>, Body]).

%%% send_file

send_whole_file(Config) ->
    {200, H, <<"0123456789">>} = get(Config, <<"/file/digits.txt">>),
    ?assertEqual(<<"10">>, proplists:get_value(<<"content-length">>, H)),
    ?assertEqual(<<"text/plain">>, proplists:get_value(<<"content-type">>, H)),
    %% The handler's own content-length, when right, is fine.
    {200, _, <<"0123456789">>} = get(Config, <<"/file/digits.txt?cl=10">>).

send_slice(Config) ->
    {200, _, <<"234">>} = get(Config, <<"/file/digits.txt?offset=2&length=3">>),
    {200, _, <<"789">>} = get(Config, <<"/file/digits.txt?offset=7&length=all">>),
    {200, _, <<>>} = get(Config, <<"/file/digits.txt?offset=10&length=all">>).

send_head(Config) ->
    S = ferry_test_lib:connect(?config(port, Config)),
    ok = gen_tcp:send(S, <<"HEAD /file/digits.txt HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n">>),
    {200, H} = ferry_test_lib:recv_head(S, 15000),
    ?assertEqual(<<"10">>, proplists:get_value(<<"content-length">>, H)),
    {error, closed} = gen_tcp:recv(S, 0, 15000),
    gen_tcp:close(S).

%% The caller learns at once, and can still answer.
send_missing_raises(Config) ->
    {404, _, <<"enoent">>} = get(Config, <<"/file/nope.txt">>),
    {404, _, <<"einval">>} = get(Config, <<"/file/digits.txt?offset=11&length=all">>).

send_directory_raises(Config) ->
    ok = file:make_dir(filename:join(?config(dir, Config), "adir")),
    {404, _, <<"eisdir">>} = get(Config, <<"/file/adir">>).

%% A content-length that is not the length sent: a 500 and a report, like
%% any response the BEAM refuses to send.
send_bad_length(Config) ->
    ferry_test_lib:capture_logs(),
    {500, _, _} = get(Config, <<"/file/digits.txt?cl=11">>),
    #{bad_response := {content_length, [<<"11">>], 10}} =
        ferry_test_lib:await_log(fun(R) -> maps:is_key(bad_response, R) end, 10000),
    ferry_test_lib:stop_capture().

%% 64 MB (sparse) in one response: the bytes never cross the pipe.
send_big_file(Config) ->
    Path = filename:join(?config(dir, Config), "big.bin"),
    {ok, Fd} = file:open(Path, [write, raw]),
    {ok, _} = file:position(Fd, 64 * ?MB - 1),
    ok = file:write(Fd, <<"!">>),
    ok = file:close(Fd),
    Before = port_output(files),
    {200, H, Body} = get(Config, <<"/file/big.bin">>),
    ?assertEqual(integer_to_binary(64 * ?MB), proplists:get_value(<<"content-length">>, H)),
    ?assertEqual({64 * ?MB, $!}, {byte_size(Body), binary:last(Body)}),
    %% The BEAM wrote a few commands to the port, not the file.
    ?assert(port_output(files) - Before < 65536),
    ok = file:delete(Path).

%%% read_body_to_file

%% At most inline_body bytes come with the request: the BEAM writes them.
to_file_inline(Config) ->
    Body = <<"small body">>,
    {200, _, A} = post(Config, <<"/to_file?digest=sha256">>, Body),
    #{bytes := 10, sha256 := Sha, file_sha := Sha, tracked := true, path := Path} =
        binary_to_term(A),
    ?assertEqual(crypto:hash(sha256, Body), Sha),
    %% A temporary file, gone with its handler.
    ferry_test_lib:wait_until(fun() -> not filelib:is_file(Path) end, 10000),
    Target = filename:join(?config(priv_dir, Config), "inline.out"),
    {200, _, B} = post(Config, <<"/to_file?path=", (list_to_binary(Target))/binary>>, Body),
    #{path := TargetBin, sha256 := undefined, tracked := false} = binary_to_term(B),
    ?assertEqual(list_to_binary(Target), TargetBin),
    timer:sleep(100),
    {ok, Body} = file:read_file(Target).

to_file_inline_too_large(Config) ->
    {413, _, _} = post(Config, <<"/to_file?max=9">>, <<"0123456789">>),
    {200, _, _} = post(Config, <<"/to_file?max=10">>, <<"0123456789">>).

%% Over inline_body: Rust writes it.
to_file_streamed(Config) ->
    Body = crypto:strong_rand_bytes(5 * ?MB + 7),
    {200, _, A} = post(Config, <<"/to_file?digest=sha256">>, Body),
    #{bytes := Bytes, sha256 := Sha, file_sha := Sha, tracked := true, path := Path} =
        binary_to_term(A),
    ?assertEqual({byte_size(Body), crypto:hash(sha256, Body)}, {Bytes, Sha}),
    %% Under the listener's upload_dir, and removed with the handler.
    ?assertEqual(list_to_binary(?config(upload, Config)), filename:dirname(Path)),
    ferry_test_lib:wait_until(fun() -> not filelib:is_file(Path) end, 10000).

to_file_streamed_path(Config) ->
    Body = binary:copy(<<"p">>, 300000),
    Target = list_to_binary(filename:join(?config(priv_dir, Config), "streamed.out")),
    {200, _, A} = post(Config, <<"/to_file?path=", Target/binary>>, Body),
    #{path := Target, bytes := 300000, sha256 := undefined, tracked := false} = binary_to_term(A),
    timer:sleep(100),
    {ok, Body} = file:read_file(Target).

to_file_streamed_too_large(Config) ->
    Body = binary:copy(<<"q">>, 300000),
    {413, _, _} = post(Config, <<"/to_file?max=299999">>, Body),
    %% Nothing left in upload_dir.
    ferry_test_lib:wait_until(fun() -> file:list_dir(?config(upload, Config)) =:= {ok, []} end,
                              10000).

to_file_after_read_body(Config) ->
    {409, _, <<"body_already_read">>} = post(Config, <<"/read_then_file">>,
                                              binary:copy(<<"r">>, 300000)).

%% The client leaves halfway: the partial file does not stay.
to_file_disconnect(Config) ->
    Upload = ?config(upload, Config),
    S = ferry_test_lib:connect(?config(port, Config)),
    ok = gen_tcp:send(S, [<<"POST /to_file HTTP/1.1\r\nhost: x\r\ncontent-length: 10000000\r\n\r\n">>,
                          binary:copy(<<"d">>, 500000)]),
    ferry_test_lib:wait_until(fun() -> element(2, file:list_dir(Upload)) =/= [] end, 10000),
    ok = gen_tcp:close(S),
    ferry_test_lib:wait_until(fun() -> file:list_dir(Upload) =:= {ok, []} end, 10000).
