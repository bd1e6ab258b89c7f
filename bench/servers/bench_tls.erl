%% Scenario 12's servers: each listens on PORT over plain TCP (the harness
%% waits on it, and Ferry's plain row is measured there, in the same VM)
%% and on TLS_PORT over TLS with CERT and KEY.
%%   erl -noshell -pa ... -run bench_tls ferry PORT TLS_PORT BINARY CERT KEY
%%   erl -noshell -pa ... -run bench_tls mochiweb PORT TLS_PORT CERT KEY
%% Ferry terminates TLS in its Rust process (rustls); mochiweb in Erlang's
%% ssl application.
-module(bench_tls).
-export([ferry/1, mochiweb/1]).

-spec ferry([string()]) -> no_return().
ferry([PortStr, TlsPort, Bin, Cert, Key]) ->
    Port = list_to_integer(PortStr),
    {ok, _} = application:ensure_all_started(ferry),
    Opts = (bench_ferry:listener_opts(Port, 1, Bin))#{handler => bench_ferry_h},
    {ok, _} = ferry:start_listener(bench, Opts),
    {ok, _} = ferry:start_listener(bench_tls, Opts#{port => list_to_integer(TlsPort),
                                                    tls => #{certfile => Cert, keyfile => Key}}),
    bench_server:ready(Port).

-spec mochiweb([string()]) -> no_return().
mochiweb([PortStr, TlsPort, Cert, Key]) ->
    Port = list_to_integer(PortStr),
    {ok, _} = application:ensure_all_started(ssl),
    Common = [{ip, {127, 0, 0, 1}}, {loop, fun bench_mochiweb:loop/1},
              {max, 20000}, {backlog, 4096}, {acceptor_pool_size, 32}, {nodelay, true}],
    {ok, _} = mochiweb_http:start([{name, bench_mochiweb}, {port, Port} | Common]),
    {ok, _} = mochiweb_http:start([{name, bench_mochiweb_ssl}, {port, list_to_integer(TlsPort)}, {ssl, true},
                                   {ssl_opts, [{certfile, Cert}, {keyfile, Key}]} | Common]),
    bench_server:ready(Port).
