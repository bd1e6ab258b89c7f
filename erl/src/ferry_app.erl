%% @doc The `ferry' application: only the top supervisor.
-module(ferry_app).
-behaviour(application).

-export([start/2, stop/1]).

start(_Type, _Args) ->
    %% Load the atoms the port sends before any frame is decoded.
    _ = ferry_protocol:atoms(),
    ferry_sup:start_link().

stop(_State) ->
    ok.
