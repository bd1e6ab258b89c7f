%% A user's supervisor, empty, for listeners started with ferry:child_spec/2.
-module(ferry_test_sup).
-behaviour(supervisor).
-export([init/1]).

init([]) ->
    {ok, {#{strategy => one_for_one, intensity => 0, period => 1}, []}}.
