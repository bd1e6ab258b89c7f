%% yaws (Debian's package) in embedded mode answering GET / with an appmod,
%% and the WebSocket routes of bench/servers/bench_yaws_ws.erl.
%% Tuned like the others: keep-alive with no use limit, no connection limit,
%% no access log, a larger acceptor pool.
-module(bench_yaws).
-export([start/1, out/1]).

-include_lib("yaws/include/yaws_api.hrl").

-spec start([string()]) -> no_return().
start([PortStr, Dir]) ->
    Port = list_to_integer(PortStr),
    ok = filelib:ensure_dir(filename:join(Dir, "x")),
    GL = [{logdir, Dir}, {keepalive_timeout, 300000}, {keepalive_maxuses, nolimit},
          {max_connections, nolimit}, {acceptor_pool_size, 32}],
    SL = [{port, Port}, {listen, {127, 0, 0, 1}}, {servername, "bench"},
          {access_log, false}, {appmods, [{"/", ?MODULE}]}],
    ok = yaws:start_embedded(Dir, SL, GL, "bench"),
    {ok, _} = pg:start(pg),
    bench_server:ready(Port).

-spec out(#arg{}) -> list() | tuple().
out(Arg) ->
    Req = Arg#arg.req,
    case {Req#http_request.method, Arg#arg.server_path} of
        {'GET', "/"} ->
            [{status, 200}, {content, "text/plain", <<"Hello, world!">>}];
        {'GET', "/ws"} ->
            bench_yaws_ws:upgrade(echo, Arg);
        {'GET', "/ws/sub"} ->
            bench_yaws_ws:upgrade(sub, Arg);
        {'POST', "/publish"} ->
            ok = bench_yaws_ws:publish(Arg#arg.clidata),
            [{status, 200}, {content, "text/plain", <<"ok">>}];
        _ ->
            [{status, 404}, {content, "text/plain", <<"not found">>}]
    end.
