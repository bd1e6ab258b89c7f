%% HTTPS listeners started from Erlang: requests over TLS with what the
%% handler learns (scheme, version, SNI), bad `tls' options refused with
%% the file and the reason, reload_tls seen by a new connection while an
%% open one keeps its certificate, and kill -9 of the Rust process with TLS
%% clients connected. The client is Erlang's own ssl; the certificates are
%% made by the openssl CLI in the run's priv_dir.
-module(ferry_tls_SUITE).
-include_lib("common_test/include/ct.hrl").
-include_lib("stdlib/include/assert.hrl").

-export([all/0, init_per_suite/1, end_per_suite/1, init_per_testcase/2, end_per_testcase/2]).
-export([https_request/1, bad_options_refused/1, reload_seen_by_new_connections/1,
         kill9_with_tls_clients/1]).

all() ->
    [https_request, bad_options_refused, reload_seen_by_new_connections, kill9_with_tls_clients].

init_per_suite(Config) ->
    {ok, _} = application:ensure_all_started(ssl),
    Dir = filename:join(?config(priv_dir, Config), "certs"),
    ok = filelib:ensure_path(Dir),
    [cert(Dir, Name) || Name <- ["a", "b"]],
    ferry_test_lib:init_per_suite([{certs, Dir} | Config]).

end_per_suite(Config) ->
    ferry_test_lib:end_per_suite(Config).

init_per_testcase(_Case, Config) ->
    ferry_test_lib:capture_logs(),
    Config.

end_per_testcase(_Case, _Config) ->
    _ = ferry:stop_listener(tls),
    ferry_test_lib:stop_capture().

%% A self-signed certificate for localhost: NAME.pem, NAME.key.
cert(Dir, Name) ->
    Base = filename:join(Dir, Name),
    Cmd = io_lib:format("openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes "
                        "-keyout ~s.key -out ~s.pem -days 2 -subj /CN=localhost "
                        "-addext subjectAltName=DNS:localhost 2>&1", [Base, Base]),
    _ = os:cmd(lists:flatten(Cmd)),
    true = filelib:is_regular(Base ++ ".pem").

files(Config, Name) ->
    Base = filename:join(?config(certs, Config), Name),
    #{certfile => Base ++ ".pem", keyfile => list_to_binary(Base ++ ".key")}.

routes() ->
    [{<<"GET">>, <<"/info">>,
      fun(Req) ->
              #{version := V, sni := Sni} = ferry_req:tls(Req),
              {200, [], [atom_to_binary(ferry_req:scheme(Req)), " ", atom_to_binary(V), " ", Sni]}
      end}].

connect(Port, _Config, _Name) ->
    {ok, S} = ssl:connect("localhost", Port,
                          %% Which certificate came is checked by comparing it
                          %% (a self-signed leaf is no CA to ssl's verify_peer).
                          [binary, {active, false}, {verify, verify_none},
                           {server_name_indication, "localhost"},
                           {alpn_advertised_protocols, [<<"http/1.1">>]}], 10000),
    S.

get(S, Path) ->
    ok = ssl:send(S, ["GET ", Path, " HTTP/1.1\r\nhost: localhost\r\n\r\n"]),
    recv_response(S, <<>>).

recv_response(S, Acc) ->
    case binary:split(Acc, <<"\r\n\r\n">>) of
        [Head, Body] ->
            {match, [Len]} = re:run(Head, "content-length: *([0-9]+)", [caseless, {capture, all_but_first, binary}]),
            N = binary_to_integer(Len),
            case byte_size(Body) >= N of
                true -> {Head, binary:part(Body, 0, N)};
                false -> recv_more(S, Acc)
            end;
        [_] -> recv_more(S, Acc)
    end.

recv_more(S, Acc) ->
    {ok, More} = ssl:recv(S, 0, 10000),
    recv_response(S, <<Acc/binary, More/binary>>).

peer_cert(S) ->
    {ok, Der} = ssl:peercert(S),
    Der.

https_request(Config) ->
    Port = ferry_test_lib:start(tls, #{routes => routes(), tls => files(Config, "a")}),
    S = connect(Port, Config, "a"),
    ?assertEqual({ok, <<"http/1.1">>}, ssl:negotiated_protocol(S)),
    {Head, Body} = get(S, "/info"),
    ?assertMatch(<<"HTTP/1.1 200", _/binary>>, Head),
    ?assertEqual(<<"https tlsv1.3 localhost">>, Body),
    %% Keep-alive: a second request on the same connection.
    ?assertMatch({_, <<"https tlsv1.3 localhost">>}, get(S, "/info")),
    ssl:close(S).

bad_options_refused(Config) ->
    Dir = ?config(certs, Config),
    Missing = filename:join(Dir, "missing.pem"),
    Bad = fun(Tls) -> ferry:start_listener(tls, #{routes => routes(), ip => <<"127.0.0.1">>,
                                                   port => 0, tls => Tls}) end,
    ?assertEqual({error, {bad_option, tls}}, Bad((files(Config, "a"))#{certfile => Missing})),
    #{detail := Detail} = ferry_test_lib:await_log(fun(#{what := W}) -> W =:= start_failed end, 5000),
    Line = unicode:characters_to_binary(Detail),
    ?assertNotEqual(nomatch, string:find(Line, Missing)),
    ?assertNotEqual(nomatch, string:find(Line, "No such file")),
    %% A key that is not the certificate's.
    ?assertEqual({error, {bad_option, tls}},
                 Bad((files(Config, "a"))#{keyfile => maps:get(keyfile, files(Config, "b"))})),
    ?assertEqual({error, {bad_option, tls}}, Bad(not_a_map)),
    ?assertEqual({error, {bad_option, tls}}, Bad(#{certfile => Missing, verify => sometimes})).

reload_seen_by_new_connections(Config) ->
    Dir = ?config(certs, Config),
    Live = #{certfile => filename:join(Dir, "live.pem"), keyfile => filename:join(Dir, "live.key")},
    Copy = fun(From) ->
                   #{certfile := C, keyfile := K} = files(Config, From),
                   {ok, _} = file:copy(C, maps:get(certfile, Live)),
                   {ok, _} = file:copy(K, maps:get(keyfile, Live))
           end,
    Copy("a"),
    Port = ferry_test_lib:start(tls, #{routes => routes(), tls => Live}),
    Old = connect(Port, Config, "a"),
    A = peer_cert(Old),
    Copy("b"),
    ?assertEqual(ok, ferry:reload_tls(tls)),
    New = connect(Port, Config, "b"),
    ?assertNotEqual(A, peer_cert(New)),
    ?assertMatch({_, <<"https", _/binary>>}, get(New, "/info")),
    %% The open connection keeps its certificate and is served.
    ?assertMatch({_, <<"https", _/binary>>}, get(Old, "/info")),
    %% A broken key: the reload fails, saying which file; the new config stays.
    ok = file:write_file(maps:get(keyfile, Live), <<"not a key">>),
    {error, Why} = ferry:reload_tls(tls),
    ?assertNotEqual(nomatch, string:find(Why, "live.key")),
    Third = connect(Port, Config, "b"),
    ?assertEqual(peer_cert(New), peer_cert(Third)),
    [ssl:close(S) || S <- [Old, New, Third]].

kill9_with_tls_clients(Config) ->
    Port = ferry_test_lib:start(tls, #{routes => routes(), tls => files(Config, "a")}),
    Clients = [connect(Port, Config, "a") || _ <- lists:seq(1, 5)],
    [?assertMatch({_, <<"https", _/binary>>}, get(S, "/info")) || S <- Clients],
    OsPid = ferry:os_pid(tls),
    ferry_test_lib:os_kill(OsPid),
    %% The clients' connections die with the process.
    [?assertMatch({error, _}, ssl:recv(S, 0, 5000)) || S <- Clients],
    ferry_test_lib:wait_until(fun() -> served(Port, Config) end, 10000),
    ?assertNotEqual(OsPid, ferry:os_pid(tls)),
    ?assertEqual(Port, ferry:port_number(tls)).

served(Port, Config) ->
    try
        S = connect(Port, Config, "a"),
        {_, Body} = get(S, "/info"),
        ssl:close(S),
        Body =:= <<"https tlsv1.3 localhost">>
    catch _:_ -> false
    end.
