%% OTP's inets httpd answering GET / from a callback module of its own.
%% Tuned like the others: keep-alive on (no request limit by default), client limit
%% raised from 150, long keep-alive timeout, TCP_NODELAY on (without it
%% every response waits out a delayed ACK: ~1,000 req/s).
-module(bench_inets).
-export([start/1, do/1]).

-include_lib("inets/include/httpd.hrl").

-spec start([string()]) -> no_return().
start([PortStr, Dir]) ->
    Port = list_to_integer(PortStr),
    ok = filelib:ensure_dir(filename:join(Dir, "x")),
    %% httpd has no socket-option setting of its own; accepted sockets
    %% inherit this from its listen socket.
    ok = application:set_env(kernel, inet_default_listen_options, [{nodelay, true}]),
    ok = inets:start(),
    {ok, _} = inets:start(httpd, [{port, Port}, {bind_address, {127, 0, 0, 1}},
                                  {server_name, "bench"}, {server_root, Dir},
                                  {document_root, Dir}, {modules, [?MODULE]},
                                  {keep_alive, true}, {keep_alive_timeout, 300},
                                  {max_clients, 20000}]),
    bench_server:ready(Port).

-spec do(#mod{}) -> {proceed, list()}.
do(#mod{method = "GET", request_uri = "/"}) ->
    Body = <<"Hello, world!">>,
    {proceed, [{response, {response, [{code, 200}, {content_type, "text/plain"},
                                      {content_length, integer_to_list(byte_size(Body))}],
                           [Body]}}]};
do(#mod{}) ->
    {proceed, [{response, {response, [{code, 404}, {content_length, "9"}], ["not found"]}}]}.
