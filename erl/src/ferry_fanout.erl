%% @doc The publish window of one shard (docs/PROTOCOL.md "Groups"): how
%% much fan-out work (`ws_publish', `ws_send' to a list) the BEAM may have
%% handed to the Rust process and not yet seen done.
%%
%% A fan-out command is small on the pipe and large in Rust, one socket
%% write per member: a few thousand of them fill the pipe with seconds of
%% work, and everything behind them (the heartbeat's `stats', a response)
%% waits that long. So a publisher takes a ticket before it writes one;
%% Rust reports the commands it has done and the socket writes they took
%% (`{publish_credit, N, Writes}'), and the port owner lets the waiting
%% tickets go in order. The window is counted in socket writes (the
%% `publish_window' option): the commands it lets in are as many as the
%% writes per command seen lately fit in it, at least one and at most
%% ?MAX_COMMANDS. A command's size is not known before Rust has done it,
%% so this is an estimate: it starts at one command, follows the groups
%% published to within a few reports, and the cap bounds what a switch
%% from small groups to a large one lets in before the estimate follows.
%% A publisher that outruns the sockets is slowed, and nothing it
%% publishes is dropped: a local publisher can wait, unlike the cluster's
%% forwarder, which serves every node and drops its oldest instead
%% (ferry_pubsub).
%%
%% Tickets are counted in an `atomics' array, so a publisher within the
%% window pays two atomic operations and never talks to the owner. Only a
%% publisher past the window calls the owner, which answers when its
%% ticket is let in, or when the port is gone (the command then goes to a
%% closed port and is dropped, as any command to a dead Rust process).
-module(ferry_fanout).

-export([new/2, acquire/2]).
-export([wait/4, credit/4, release_all/1]).
-export_type([window/0, waiters/0]).

-define(ISSUED, 1).
-define(DONE, 2).
%% Commands let in at once: the window over the writes per command.
-define(SIZE, 3).
%% Writes per command, a moving average (in 1/16ths).
-define(AVERAGE, 4).
%% Commands in flight at most, however small: publishes to groups of one
%% member each are cheap, but their number still fills the pipe.
-define(MAX_COMMANDS, 64).

-opaque window() :: {pid(), atomics:atomics_ref(), pos_integer()}.
-opaque waiters() :: gb_trees:tree(pos_integer(), gen_server:from()).

%% @doc A window of `Writes' socket writes for a port owned by `Owner'.
%% Until Rust has reported what a command costs, one is let in at a time.
-spec new(pid(), pos_integer()) -> window().
new(Owner, Writes) ->
    Counts = atomics:new(4, [{signed, false}]),
    ok = atomics:put(Counts, ?SIZE, 1),
    {Owner, Counts, Writes}.

%% @doc Takes a ticket for one fan-out command to `Port', waiting while
%% the window is full. Returns once the command may be written.
-spec acquire(window(), port()) -> ok.
acquire({Owner, Counts, _Writes}, Port) ->
    Ticket = atomics:add_get(Counts, ?ISSUED, 1),
    case Ticket - atomics:get(Counts, ?DONE) =< atomics:get(Counts, ?SIZE) of
        true ->
            ok;
        false ->
            try gen_server:call(Owner, {fanout_wait, Port, Ticket}, infinity)
            catch exit:_ -> ok   % the owner is gone, and its port with it
            end
    end.

%%% The owner's side.

%% @doc A publisher asks to be let in: answered now if its ticket is in
%% the window already, else kept until it is.
-spec wait(window(), pos_integer(), gen_server:from(), waiters() | undefined) -> waiters().
wait({_, Counts, _}, Ticket, From, Waiters0) ->
    Waiters = case Waiters0 of
                  undefined -> gb_trees:empty();
                  _ -> Waiters0
              end,
    case Ticket - atomics:get(Counts, ?DONE) =< atomics:get(Counts, ?SIZE) of
        true ->
            gen_server:reply(From, ok),
            Waiters;
        false ->
            gb_trees:insert(Ticket, From, Waiters)
    end.

%% @doc Rust has done `N' more commands, with `Writes' socket writes: the
%% tickets now in the window go.
-spec credit(window(), pos_integer(), non_neg_integer(), waiters() | undefined) ->
          waiters() | undefined.
credit({_, Counts, Window}, N, Writes, Waiters) ->
    %% A new report weighs a quarter (the first, all): a change of group
    %% shows in a few.
    Average = case atomics:get(Counts, ?AVERAGE) of
                  0 -> max(1, (16 * Writes) div N);
                  Before -> max(1, (3 * Before + (16 * Writes) div N) div 4)
              end,
    Size = max(1, min(min(Window, ?MAX_COMMANDS), (16 * Window) div Average)),
    ok = atomics:put(Counts, ?AVERAGE, Average),
    ok = atomics:put(Counts, ?SIZE, Size),
    Done = atomics:add_get(Counts, ?DONE, N),
    release(Done + Size, Waiters).

release(_Upto, undefined) ->
    undefined;
release(Upto, Waiters) ->
    case gb_trees:is_empty(Waiters) of
        true ->
            Waiters;
        false ->
            case gb_trees:smallest(Waiters) of
                {Ticket, From} when Ticket =< Upto ->
                    gen_server:reply(From, ok),
                    release(Upto, gb_trees:delete(Ticket, Waiters));
                _ ->
                    Waiters
            end
    end.

%% @doc The port is gone: every waiter goes (its command is dropped).
-spec release_all(waiters() | undefined) -> undefined.
release_all(undefined) ->
    undefined;
release_all(Waiters) ->
    [gen_server:reply(From, ok) || From <- gb_trees:values(Waiters)],
    undefined.
