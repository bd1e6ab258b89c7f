%% BEAM-side profiles of a bench server under load, for bench/harness/profile.py:
%%   erl ... -run bench_probe start msacc|eprof DelayMs DurationMs -run bench_ferry start ...
%% After DelayMs (the load has begun) it profiles for DurationMs and prints
%% the result to stdout: msacc, the split of scheduler time (emulator, port,
%% gc, busy wait in other, sleep); eprof, time per function in the Ferry
%% port owners and every process they spawn (the request handlers).
-module(bench_probe).
-export([start/1]).

-spec start([string()]) -> ok.
start([What, Delay, Duration]) ->
    Run = fun() ->
                  timer:sleep(list_to_integer(Delay)),
                  probe(list_to_atom(What), list_to_integer(Duration))
          end,
    _ = spawn(Run),
    ok.

probe(msacc, Ms) ->
    msacc:start(Ms),
    msacc:print(msacc:stats(), #{system => true});
probe(eprof, Ms) ->
    Owners = [P || P <- processes(), initial_call(P) =:= {ferry_port, init, 1}],
    io:format("eprof: port owners ~p~n", [Owners]),
    {ok, _} = eprof:start(),
    profiling = eprof:start_profiling(Owners, {'_', '_', '_'}, [{set_on_spawn, true}]),
    timer:sleep(Ms),
    profiling_stopped = eprof:stop_profiling(),
    eprof:analyze(total, [{filter, [{time, float(Ms * 5)}]}]),
    stopped = eprof:stop().

initial_call(Pid) ->
    case process_info(Pid, dictionary) of
        {dictionary, D} -> proplists:get_value('$initial_call', D);
        undefined -> undefined
    end.
