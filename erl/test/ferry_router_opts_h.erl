%% A handler with options, for ferry_router_tests: init/1 checks them.
-module(ferry_router_opts_h).
-export([init/1, handle/2]).

init(#{n := N} = Opts) when is_integer(N) -> Opts#{checked => true};
init(_) -> error(badarg).

handle(_Req, #{n := N}) -> {200, [], integer_to_binary(N)}.
