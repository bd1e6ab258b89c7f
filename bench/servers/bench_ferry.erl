%% Ferry with an Erlang handler, as the benchmark runs it:
%%   erl -noshell -pa ... -run bench_ferry start PORT SHARDS BINARY
%% Limits raised like the other servers' (connections, backlog, idle timeout
%% long enough to hold scenarios 3 and 8's idle connections); max_body above the
%% default 1 GiB for scenario 4's 4 GiB upload; uploads to a file (scenario
%% 15) go where the harness says.
-module(bench_ferry).
-export([start/1, listener_opts/3]).

-spec start([string()]) -> no_return().
start([PortStr, ShardsStr, Bin]) ->
    Port = list_to_integer(PortStr),
    {ok, _} = application:ensure_all_started(ferry),
    Opts = listener_opts(Port, list_to_integer(ShardsStr), Bin),
    {ok, _} = ferry:start_listener(bench, Opts#{handler => bench_ferry_h}),
    bench_server:ready(Port).

%% Shared with the Elixir bench server (bench/servers/ferry_router_bench.exs).
-spec listener_opts(inet:port_number(), pos_integer(), string()) -> map().
listener_opts(Port, Shards, Bin) ->
    #{ip => <<"127.0.0.1">>, port => Port, shards => Shards,
      binary => Bin, backlog => 4096, max_connections => 19000,
      idle_timeout => 300000, ws_idle_timeout => 300000, max_body => 1 bsl 40,
      upload_dir => bench_server:upload_dir()}.
