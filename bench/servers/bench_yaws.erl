%% yaws (Debian's package) in embedded mode answering GET / with an appmod.
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
    bench_server:ready(Port).

-spec out(#arg{}) -> list().
out(Arg) ->
    Req = Arg#arg.req,
    case {Req#http_request.method, Arg#arg.server_path} of
        {'GET', "/"} ->
            [{status, 200}, {content, "text/plain", <<"Hello, world!">>}];
        _ ->
            [{status, 404}, {content, "text/plain", <<"not found">>}]
    end.
