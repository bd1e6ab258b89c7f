%% multipart/form-data over real sockets: curl -F with several files and
%% fields, the part-by-part API, malformed bodies and each limit (400/413,
%% nothing left on disk), and the temporary files removed after a normal
%% end, a crash, a kill and a client that goes away.
%%
%% Each case has its own tmp_dir (a query parameter names it), so what is
%% left on disk is exactly that case's.
-module(ferry_multipart_SUITE).
-include_lib("common_test/include/ct.hrl").
-include_lib("stdlib/include/assert.hrl").

-export([all/0, init_per_suite/1, end_per_suite/1, init_per_testcase/2, end_per_testcase/2]).
-export([curl_fields_and_files/1, large_file_bounded_memory/1, parts_one_by_one/1,
         not_multipart/1, malformed/1, truncated/1, too_many_parts/1, file_too_large/1,
         field_too_large/1, header_too_large/1, total_too_large/1, moved_file_survives/1,
         kept_file_survives/1, cleaned_after_crash/1, cleaned_after_kill/1,
         cleaned_after_disconnect/1]).

-define(MB, 1048576).

all() ->
    [curl_fields_and_files, large_file_bounded_memory, parts_one_by_one, not_multipart,
     malformed, truncated, too_many_parts, file_too_large, field_too_large, header_too_large,
     total_too_large, moved_file_survives, kept_file_survives, cleaned_after_crash,
     cleaned_after_kill, cleaned_after_disconnect].

init_per_suite(Config0) ->
    Config = ferry_test_lib:init_per_suite(Config0),
    Routes = [{<<"POST">>, <<"/form">>, fun form/1},
              {<<"POST">>, <<"/parts">>, fun parts/1},
              {<<"POST">>, <<"/move">>, fun move/1},
              {<<"POST">>, <<"/keep">>, fun keep/1},
              {<<"POST">>, <<"/crash">>, fun crash/1},
              {<<"POST">>, <<"/hang">>, fun hang/1}],
    Port = ferry_test_lib:start(multipart, #{routes => Routes, max_body => 64 * ?MB}),
    %% Its handlers are killed after 1 s (request_timeout).
    Killer = ferry_test_lib:start(multipart_kill, #{routes => Routes, request_timeout => 1000}),
    [{port, Port}, {kill_port, Killer} | Config].

end_per_suite(Config) ->
    ok = ferry:stop_listener(multipart),
    ok = ferry:stop_listener(multipart_kill),
    ferry_test_lib:end_per_suite(Config).

init_per_testcase(Case, Config) ->
    Dir = filename:join(?config(priv_dir, Config), atom_to_list(Case)),
    ok = filelib:ensure_path(Dir),
    [{tmp, Dir} | Config].

end_per_testcase(_Case, _Config) ->
    ok.

%%% Handlers. The query: tmp=Dir, and limits as integers.

opts(Req) ->
    maps:from_list([case K of
                        <<"tmp">> -> {tmp_dir, V};
                        _ -> {binary_to_existing_atom(K), binary_to_integer(V)}
                    end || {K, V} <- ferry_req:parse_qs(Req)]).

%% Answers with what read_form gave, each file with its SHA-256 as read
%% back from disk.
form(Req) ->
    case ferry_multipart:read_form(Req, opts(Req)) of
        {ok, Entries, _} -> {200, [], term_to_binary([entry(E) || E <- Entries])};
        {error, {Status, Why}} -> {Status, [], atom_to_binary(Why)}
    end.

entry({Name, #{path := Path} = File}) ->
    {ok, Fd} = file:open(Path, [read, raw, binary]),
    Sha = sha_file(Fd, crypto:hash_init(sha256)),
    ok = file:close(Fd),
    {Name, File#{sha256 => Sha}};
entry(Field) ->
    Field.

sha_file(Fd, Hash) ->
    case file:read(Fd, 65536) of
        {ok, Data} -> sha_file(Fd, crypto:hash_update(Hash, Data));
        eof -> crypto:hash_final(Hash)
    end.

%% The part-by-part API: each part's headers and size, reading bodies in
%% pieces of at least 1000 bytes (as they came), and skipping the body of
%% parts named "skip".
parts(Req) ->
    {200, [], term_to_binary(parts(ferry_multipart:read_part(Req, opts(Req)), []))}.

parts({done, _}, Acc) ->
    lists:reverse(Acc);
parts({error, Why}, Acc) ->
    lists:reverse([{error, Why} | Acc]);
parts({ok, Headers, Req}, Acc) ->
    case ferry_multipart_parser:form_data(Headers) of
        {data, <<"skip">>} ->
            parts(ferry_multipart:read_part(Req), [skipped | Acc]);
        _ ->
            {Size, Pieces, Req1} = part_body(Req, 0, 0),
            parts(ferry_multipart:read_part(Req1), [{Headers, Size, Pieces} | Acc])
    end.

part_body(Req0, Size, Pieces) ->
    case ferry_multipart:read_part_body(Req0, #{length => 1000}) of
        {more, Data, Req} -> part_body(Req, Size + byte_size(Data), Pieces + 1);
        {ok, Data, Req} -> {Size + byte_size(Data), Pieces + 1, Req}
    end.

move(Req) ->
    {ok, [{_, #{path := Path}}], _} = ferry_multipart:read_form(Req, opts(Req)),
    Target = <<Path/binary, ".moved">>,
    ok = file:rename(Path, Target),
    {200, [], Target}.

keep(Req) ->
    {ok, [{_, #{path := Path}}], _} = ferry_multipart:read_form(Req, opts(Req)),
    ok = ferry_tmp:keep(Path),
    {200, [], Path}.

crash(Req) ->
    {ok, [_ | _], _} = ferry_multipart:read_form(Req, opts(Req)),
    error(crash_on_purpose).

hang(Req) ->
    {ok, [_ | _], _} = ferry_multipart:read_form(Req, opts(Req)),
    timer:sleep(infinity).

%%% Clients

curl(Config, Path, Args) ->
    Curl = os:find_executable("curl"),
    Url = ferry_test_lib:url(?config(port, Config), Path),
    P = open_port({spawn_executable, Curl},
                  [{args, ["-sS", "-o", "-", "-w", "\n%{http_code}"] ++ Args ++ [Url]},
                   binary, exit_status, stderr_to_stdout]),
    curl_output(P, []).

curl_output(P, Acc) ->
    receive
        {P, {data, D}} -> curl_output(P, [Acc, D]);
        {P, {exit_status, 0}} ->
            Out = iolist_to_binary(Acc),
            [Code | Rest] = lists:reverse(binary:split(Out, <<"\n">>, [global])),
            {binary_to_integer(Code), iolist_to_binary(lists:join(<<"\n">>, lists:reverse(Rest)))};
        {P, {exit_status, N}} -> ct:fail("curl exited ~p: ~s", [N, Acc])
    after 60000 -> ct:fail("curl hangs")
    end.

q(Config) -> q(Config, []).
q(Config, Limits) ->
    lists:flatten(["?tmp=", ?config(tmp, Config),
                   [["&", atom_to_list(K), "=", integer_to_list(V)] || {K, V} <- Limits]]).

%% A multipart body of raw parts, with the boundary B.
body(Parts) ->
    [[<<"--B\r\n">>, Head, <<"\r\n\r\n">>, Data, <<"\r\n">>] || {Head, Data} <- Parts]
        ++ [<<"--B--\r\n">>].

field(Name, Value) ->
    {[<<"content-disposition: form-data; name=\"">>, Name, <<"\"">>], Value}.

file_part(Name, Filename, Data) ->
    {[<<"content-disposition: form-data; name=\"">>, Name, <<"\"; filename=\"">>, Filename,
      <<"\"\r\ncontent-type: application/octet-stream">>], Data}.

post(Config, Path, Body) ->
    post(Config, Path, <<"multipart/form-data; boundary=B">>, Body).

post(Config, Path, ContentType, Body) ->
    ferry_test_lib:raw(?config(port, Config),
                       [<<"POST ">>, Path, <<" HTTP/1.1\r\nhost: x\r\nconnection: close\r\n">>,
                        <<"content-type: ">>, ContentType, <<"\r\ncontent-length: ">>,
                        integer_to_binary(iolist_size(Body)), <<"\r\n\r\n">>, Body]).

%% The case's tmp_dir ends up empty (the janitor runs once the handler is
%% gone: a bounded wait).
assert_cleaned(Config) ->
    Dir = ?config(tmp, Config),
    ferry_test_lib:wait_until(fun() -> file:list_dir(Dir) =:= {ok, []} end, 10000).

write_fixture(Config, Name, Data) ->
    Path = filename:join(?config(priv_dir, Config), Name),
    ok = file:write_file(Path, Data),
    Path.

%%% Cases

curl_fields_and_files(Config) ->
    A = crypto:strong_rand_bytes(300000),
    B = <<"second file\r\n--not a boundary\r\n">>,
    PathA = write_fixture(Config, "a.bin", A),
    PathB = write_fixture(Config, "b.txt", B),
    PathE = write_fixture(Config, "empty.dat", <<>>),
    {200, Body} = curl(Config, "/form" ++ q(Config),
                       ["-F", "title=hello ferry", "-F", "file=@" ++ PathA,
                        "-F", "file=@" ++ PathB ++ ";type=text/plain",
                        "-F", "note=<" ++ PathB, "-F", "empty=@" ++ PathE,
                        "-F", "utf=caf" ++ [233]]),
    Entries = binary_to_term(Body),
    Sha = fun(D) -> crypto:hash(sha256, D) end,
    ?assertMatch([{<<"title">>, <<"hello ferry">>},
                  {<<"file">>, #{filename := <<"a.bin">>, size := 300000,
                                 content_type := <<"application/octet-stream">>}},
                  {<<"file">>, #{filename := <<"b.txt">>, content_type := <<"text/plain">>}},
                  {<<"note">>, B},
                  {<<"empty">>, #{filename := <<"empty.dat">>, size := 0}},
                  {<<"utf">>, <<"café"/utf8>>}], Entries),
    [{_, #{sha256 := ShaA, path := TmpA}}, {_, #{sha256 := ShaB, size := SizeB}}] =
        [E || {<<"file">>, _} = E <- Entries],
    ?assertEqual({Sha(A), Sha(B), byte_size(B)}, {ShaA, ShaB, SizeB}),
    ?assertEqual(list_to_binary(?config(tmp, Config)), filename:dirname(TmpA)),
    %% The handler ended: its temporary files are gone.
    assert_cleaned(Config).

%% 40 MB through read_form: the VM never holds it, only pieces of it.
large_file_bounded_memory(Config) ->
    %% Made and hashed in pieces: no 40 MB binary in this VM but the
    %% handler's, if it held one.
    Path = filename:join(?config(priv_dir, Config), "big.bin"),
    [] = os:cmd("head -c " ++ integer_to_list(40 * ?MB) ++ " /dev/urandom > " ++ Path),
    {ok, Fd} = file:open(Path, [read, raw, binary]),
    Sha = sha_file(Fd, crypto:hash_init(sha256)),
    ok = file:close(Fd),
    erlang:garbage_collect(),
    Before = erlang:memory(total),
    Sampler = spawn_link(fun() -> sample_memory(Before) end),
    {200, Body} = curl(Config, "/form" ++ q(Config), ["-F", "big=@" ++ Path]),
    Sampler ! {done, self()},
    Peak = receive {peak, P} -> P end,
    [{<<"big">>, #{size := Size, sha256 := Sha2}}] = binary_to_term(Body),
    ?assertEqual({40 * ?MB, Sha}, {Size, Sha2}),
    ct:pal("40 MB multipart upload: peak VM memory growth ~.1f MB", [(Peak - Before) / ?MB]),
    ?assert(Peak - Before < 16 * ?MB),
    ok = file:delete(Path),
    assert_cleaned(Config).

sample_memory(Peak) ->
    receive {done, From} -> From ! {peak, Peak}
    after 5 -> sample_memory(max(Peak, erlang:memory(total)))
    end.

parts_one_by_one(Config) ->
    Big = binary:copy(<<"x">>, 5500),
    Body = body([field(<<"a">>, <<"1">>), field(<<"skip">>, binary:copy(<<"s">>, 9000)),
                 file_part(<<"f">>, <<"f.bin">>, Big), {<<"x-custom: yes">>, <<>>}]),
    {200, _, Answer} = post(Config, "/parts" ++ q(Config), Body),
    ?assertMatch([{[{<<"content-disposition">>, <<"form-data; name=\"a\"">>}], 1, 1},
                  skipped,
                  {[{<<"content-disposition">>, _}, {<<"content-type">>, _}], 5500, Pieces},
                  {[{<<"x-custom">>, <<"yes">>}], 0, 1}]
                 when Pieces >= 2, binary_to_term(Answer)).

not_multipart(Config) ->
    {415, _, <<"not_multipart">>} = post(Config, "/form" ++ q(Config), <<"text/plain">>, <<"x">>),
    {400, _, <<"bad_boundary">>} =
        post(Config, "/form" ++ q(Config), <<"multipart/form-data">>, <<"x">>).

malformed(Config) ->
    FilePart = lists:droplast(body([file_part(<<"f">>, <<"f.bin">>, binary:copy(<<"y">>, 100000))])),
    Bodies = [[<<"--B\r\nno colon here\r\n\r\ndata\r\n--B--\r\n">>],
              [<<"--B\r\ncontent-disposition: attachment\r\n\r\ndata\r\n--B--\r\n">>],
              [<<"--Bx\r\n\r\n">>],
              %% A good file part first: it must not stay on disk.
              [FilePart, <<"--Bjunk\r\n\r\n">>],
              [FilePart, <<"--B\r\nbroken\r\n\r\n\r\n--B--\r\n">>]],
    [begin
         {400, _, Why} = post(Config, "/form" ++ q(Config), B),
         ct:pal("~s", [Why])
     end || B <- Bodies],
    assert_cleaned(Config).

truncated(Config) ->
    Body = lists:droplast(body([field(<<"a">>, <<"1">>), file_part(<<"f">>, <<"f">>, <<"abc">>)])),
    {400, _, <<"truncated">>} = post(Config, "/form" ++ q(Config), Body),
    assert_cleaned(Config).

too_many_parts(Config) ->
    Parts = fun(N) -> body([field(integer_to_binary(I), <<"v">>) || I <- lists:seq(1, N)]) end,
    {200, _, _} = post(Config, "/form" ++ q(Config, [{max_parts, 5}]), Parts(5)),
    {413, _, <<"too_many_parts">>} = post(Config, "/form" ++ q(Config, [{max_parts, 5}]), Parts(6)),
    %% Files among them are removed.
    Files = body([file_part(<<"f">>, <<"f">>, <<"data">>) || _ <- lists:seq(1, 4)]),
    {413, _, <<"too_many_parts">>} = post(Config, "/form" ++ q(Config, [{max_parts, 3}]), Files),
    assert_cleaned(Config).

file_too_large(Config) ->
    Body = fun(N) -> body([file_part(<<"ok">>, <<"ok">>, <<"fine">>),
                           file_part(<<"f">>, <<"f">>, binary:copy(<<"z">>, N))]) end,
    Q = "/form" ++ q(Config, [{max_file, 100000}]),
    {200, _, _} = post(Config, Q, Body(100000)),
    {413, _, <<"file_too_large">>} = post(Config, Q, Body(100001)),
    {413, _, <<"file_too_large">>} = post(Config, Q, Body(3 * ?MB)),
    assert_cleaned(Config).

field_too_large(Config) ->
    Q = "/form" ++ q(Config, [{max_field, 10}]),
    {200, _, _} = post(Config, Q, body([field(<<"a">>, <<"0123456789">>)])),
    {413, _, <<"field_too_large">>} = post(Config, Q, body([field(<<"a">>, <<"0123456789X">>)])).

header_too_large(Config) ->
    Q = "/form" ++ q(Config, [{max_header_bytes, 100}]),
    Head = fun(N) -> [<<"content-disposition: form-data; name=\"a\"\r\nx-pad: ">>,
                      binary:copy(<<"p">>, N)] end,
    %% The block with its empty line: 100 bytes pass, 101 do not.
    N = 100 - 4 - iolist_size(Head(0)),
    {200, _, _} = post(Config, Q, body([{Head(N), <<"v">>}])),
    {413, _, <<"header_too_large">>} = post(Config, Q, body([{Head(N + 1), <<"v">>}])).

total_too_large(Config) ->
    Body = body([file_part(<<"f">>, <<"f">>, binary:copy(<<"t">>, 200000))]),
    Size = iolist_size(Body),
    {200, _, _} = post(Config, "/form" ++ q(Config, [{max_total, Size}]), Body),
    {413, _, <<"too_large">>} = post(Config, "/form" ++ q(Config, [{max_total, Size - 1}]), Body),
    assert_cleaned(Config).

moved_file_survives(Config) ->
    {200, _, Moved} = post(Config, "/move" ++ q(Config), body([file_part(<<"f">>, <<"f">>, <<"keep me">>)])),
    %% Once the handler is gone, only the moved file is left.
    ferry_test_lib:wait_until(fun() -> file:list_dir(?config(tmp, Config)) =:= {ok, [binary_to_list(filename:basename(Moved))]} end, 10000),
    {ok, <<"keep me">>} = file:read_file(Moved).

kept_file_survives(Config) ->
    {200, _, Kept} = post(Config, "/keep" ++ q(Config), body([file_part(<<"f">>, <<"f">>, <<"kept">>)])),
    %% A request after it proves the handler (and its janitor) had time to end.
    {200, _, _} = post(Config, "/form" ++ q(Config), body([field(<<"a">>, <<"b">>)])),
    timer:sleep(200),
    {ok, <<"kept">>} = file:read_file(Kept).

cleaned_after_crash(Config) ->
    {500, _, _} = post(Config, "/crash" ++ q(Config), body([file_part(<<"f">>, <<"f">>, <<"crash">>)])),
    assert_cleaned(Config).

%% The handler hangs after reading the form; request_timeout kills it
%% (exit(Pid, kill): it cannot clean up itself).
cleaned_after_kill(Config) ->
    Port = ?config(kill_port, Config),
    Body = body([file_part(<<"f">>, <<"f">>, <<"killed">>)]),
    {503, _, _} = ferry_test_lib:raw(Port, [<<"POST /hang">>, q(Config), <<" HTTP/1.1\r\nhost: x\r\n">>,
                                            <<"connection: close\r\n">>,
                                            <<"content-type: multipart/form-data; boundary=B\r\n">>,
                                            <<"content-length: ">>,
                                            integer_to_binary(iolist_size(Body)), <<"\r\n\r\n">>,
                                            Body]),
    assert_cleaned(Config).

%% The client sends half a file and goes away: the handler ends inside
%% read_form, and its partial file is removed.
cleaned_after_disconnect(Config) ->
    S = ferry_test_lib:connect(?config(port, Config)),
    Head = iolist_to_binary(lists:droplast(body([file_part(<<"f">>, <<"f">>, <<>>)]))),
    ok = gen_tcp:send(S, [<<"POST /form">>, q(Config), <<" HTTP/1.1\r\nhost: x\r\n">>,
                          <<"content-type: multipart/form-data; boundary=B\r\n">>,
                          <<"content-length: 10000000\r\n\r\n">>,
                          binary:part(Head, 0, byte_size(Head) - 2), binary:copy(<<"h">>, 500000)]),
    Dir = ?config(tmp, Config),
    ferry_test_lib:wait_until(fun() -> element(2, file:list_dir(Dir)) =/= [] end, 10000),
    ok = gen_tcp:close(S),
    assert_cleaned(Config).
