%% Ferry as bench_ferry runs it, observed (scenario 13, issue 12):
%%   erl -noshell -pa ... -run bench_ferry_obs start PORT SHARDS BINARY MODE
%% MODE `none': no event handler attached (the events cost a lookup);
%% `handler': a ferry_telemetry handler on [ferry, request, stop] that adds
%% to counters, as a metrics reporter would; `sent': that handler with the
%% port's sent_events, which stop waits for; `access_log': that handler and
%% the access log (at notice, so OTP's default handler writes each line to
%% this server's log file), which turns the port's sent_events on.
-module(bench_ferry_obs).
-export([start/1, handle_event/4]).

-spec start([string()]) -> no_return().
start([PortStr, ShardsStr, Bin, Mode]) ->
    Port = list_to_integer(PortStr),
    {ok, _} = application:ensure_all_started(ferry),
    Opts = bench_ferry:listener_opts(Port, list_to_integer(ShardsStr), Bin),
    case Mode of
        "none" -> ok;
        _ -> ok = ferry_telemetry:attach(bench, [ferry, request, stop], fun ?MODULE:handle_event/4,
                                         counters:new(2, [write_concurrency]))
    end,
    Observed = case Mode of
                   "access_log" -> Opts#{access_log => notice};
                   "sent" -> Opts#{sent_events => true};
                   _ -> Opts
               end,
    {ok, _} = ferry:start_listener(bench, Observed#{handler => bench_ferry_h}),
    bench_server:ready(Port).

handle_event(_Event, #{duration := Duration}, _Metadata, Counters) ->
    counters:add(Counters, 1, 1),
    counters:add(Counters, 2, Duration).
