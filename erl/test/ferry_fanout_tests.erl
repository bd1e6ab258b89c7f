%% The publish window's arithmetic (ferry_fanout), with this process as
%% the port owner: tickets within the window go at once, the rest wait for
%% credit, in order, and the window follows the writes Rust reports.
-module(ferry_fanout_tests).
-include_lib("eunit/include/eunit.hrl").

%% What the owner keeps: a waiter is a gen_server `From'.
from(Tag) -> {self(), Tag}.

replied(Tag) ->
    receive {Tag, ok} -> true after 0 -> false end.

first_command_goes_alone_test() ->
    W = ferry_fanout:new(self(), 8192),
    %% Ticket 1 fits the first window of one command; ticket 2 does not.
    ?assertEqual(ok, ferry_fanout:acquire(W, undefined_port)),
    Waiters = ferry_fanout:wait(W, 2, from(t2), undefined),
    ?assertNot(replied(t2)),
    %% Rust did one command of 1,000 writes: 8 commands fit in 8192 now.
    After = ferry_fanout:credit(W, 1, 1000, Waiters),
    ?assert(replied(t2)),
    ?assertEqual(undefined, ferry_fanout:release_all(After)).

waiters_go_in_order_test() ->
    W = ferry_fanout:new(self(), 2000),
    ok = ferry_fanout:acquire(W, p),
    %% A command costs 1000 writes: two fit in the window of 2000.
    W0 = ferry_fanout:credit(W, 1, 1000, undefined),
    W1 = lists:foldl(fun(T, Acc) -> ferry_fanout:wait(W, T, from(T), Acc) end, W0, [4, 3, 5, 6]),
    %% Done 1: tickets up to 1 + 2 could go; 3 is answered at once.
    ?assert(replied(3)),
    ?assertNot(replied(4)),
    W2 = ferry_fanout:credit(W, 1, 1000, W1),
    ?assert(replied(4)),
    ?assertNot(replied(5)),
    W3 = ferry_fanout:credit(W, 2, 2000, W2),
    ?assert(replied(5)),
    ?assert(replied(6)),
    ?assertEqual(undefined, ferry_fanout:release_all(W3)).

window_follows_the_group_size_test() ->
    W = ferry_fanout:new(self(), 8192),
    %% Groups of one: the window grows to its cap of 64 commands, not 8192.
    W1 = lists:foldl(fun(_, Acc) -> ferry_fanout:credit(W, 1, 1, Acc) end, undefined,
                     lists:seq(1, 20)),
    Waiters = ferry_fanout:wait(W, 20 + 64, from(in), W1),
    ?assert(replied(in)),
    Waiters2 = ferry_fanout:wait(W, 20 + 65, from(out), Waiters),
    ?assertNot(replied(out)),
    %% A large group: a report of 10,000 writes shrinks it at once.
    Waiters3 = ferry_fanout:credit(W, 1, 10000, Waiters2),
    ?assertNot(replied(out)),
    ?assertEqual(undefined, ferry_fanout:release_all(Waiters3)),
    ?assert(replied(out)).
