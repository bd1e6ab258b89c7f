%% @doc WebSocket groups and fan-out (docs/PROTOCOL.md "Groups"): Rust keeps
%% the members of each group and writes one message to all of them, encoded
%% once; the BEAM sends one command per shard, whatever the number of
%% members.
%%
%% `join/1', `leave/1', `publish_from/2' and `self/0' are called from a
%% WebSocket process (one running a `ferry_websocket' module); `publish/3'
%% and `send/2' from any process. Frames are `{text, iodata()}',
%% `{binary, iodata()}', `{ping | pong, iodata()}', `close' and
%% `{close, Code, Reason}'; anything else raises `{bad_frame, Frame}'.
%% Frames sent to a group or a list take no send credit: Rust closes a
%% member that falls more than `send_window' behind with 1008. Each
%% command to a group or a list takes a ticket of the shard's publish
%% window (ferry_fanout, the `publish_window' option): a caller that
%% publishes faster than Rust writes to the members waits here.
-module(ferry_ws).

-include("ferry_ctx.hrl").

-compile({no_auto_import, [self/0]}).

-export([join/1, leave/1, publish/3, publish_from/2, self/0, send/2]).
%% For ferry_websocket and ferry_port.
-export([enter/1, register_port/5, unregister_port/2]).
%% For ferry_pubsub.
-export([listener/0]).
-export_type([conn/0]).

-record(ferry_conn, {listener :: atom(),
                     %% The port of the Rust process that has the connection:
                     %% after a restart of that process the conn names
                     %% nothing (its ids mean other connections there).
                     port :: port(),
                     id :: ferry_protocol:id(),
                     max_frame :: pos_integer() | infinity,
                     fanout :: ferry_fanout:window() | undefined}).

-opaque conn() :: #ferry_conn{}.

%% The WebSocket process's context, in its process dictionary.
-define(CTX, '$ferry_ws').
%% Each shard's port in the ferry_listeners table, for publish/3.
-define(PORT_KEY(Listener, Shard), {Listener, {ws_port, Shard}}).

%% @doc This connection joins `Group' (it leaves every group when it closes).
-spec join(binary()) -> ok.
join(Group) when is_binary(Group) ->
    #ferry_ctx{port = Port, id = Id} = ctx(),
    command(Port, ferry_protocol:ws_join(Id, Group)).

-spec leave(binary()) -> ok.
leave(Group) when is_binary(Group) ->
    #ferry_ctx{port = Port, id = Id} = ctx(),
    command(Port, ferry_protocol:ws_leave(Id, Group)).

%% @doc `Frames' to every member of `Group' on `Listener' (every shard). A
%% listener that is not running has no members.
-spec publish(atom(), binary(), [ferry_websocket:command()]) -> ok.
publish(Listener, Group, Frames) when is_atom(Listener), is_binary(Group) ->
    Checked = frames(Frames),
    lists:foreach(fun({Port, Max, Fanout}) -> publish_to(Port, Max, Fanout, Group, Checked, none) end,
                  shards(Listener)).

%% @doc `Frames' to every member of `Group' but this connection.
-spec publish_from(binary(), [ferry_websocket:command()]) -> ok.
publish_from(Group, Frames) when is_binary(Group) ->
    #ferry_ctx{listener = Listener, port = Own, id = Id} = ctx(),
    Checked = frames(Frames),
    lists:foreach(fun({Port, Max, Fanout}) when Port =:= Own ->
                          publish_to(Port, Max, Fanout, Group, Checked, Id);
                     ({Port, Max, Fanout}) ->
                          publish_to(Port, Max, Fanout, Group, Checked, none)
                  end, shards(Listener)).

publish_to(Port, MaxFrame, Fanout, Group, Frames, Except) ->
    [fan_out(Port, Fanout, case Except of
                               none -> ferry_protocol:ws_publish(Group, Run);
                               Id -> ferry_protocol:ws_publish(Group, Run, Id)
                           end)
     || Run <- ferry_protocol:ws_runs(Frames, MaxFrame)],
    ok.

%% A fan-out command, once the publish window lets it in.
fan_out(Port, undefined, Frame) ->
    command(Port, Frame);
fan_out(Port, Fanout, Frame) ->
    ok = ferry_fanout:acquire(Fanout, Port),
    command(Port, Frame).

%% @doc This connection, for `send/2' from anywhere.
-spec self() -> conn().
self() ->
    #ferry_ctx{listener = Listener, port = Port, id = Id, max_frame = Max, fanout = Fanout} = ctx(),
    #ferry_conn{listener = Listener, port = Port, id = Id, max_frame = Max, fanout = Fanout}.

%% @doc `Frames' to each of `Conns': one command per shard.
-spec send([conn()], [ferry_websocket:command()]) -> ok.
send(Conns, Frames) when is_list(Conns) ->
    Checked = frames(Frames),
    ByPort = lists:foldl(fun(#ferry_conn{port = Port, id = Id, max_frame = Max, fanout = F}, Acc) ->
                                 maps:update_with({Port, Max, F}, fun(Ids) -> [Id | Ids] end, [Id], Acc)
                         end, #{}, Conns),
    maps:foreach(fun({Port, Max, Fanout}, Ids) ->
                         %% The ids take room in the command too.
                         Room = case Max of
                                    infinity -> infinity;
                                    _ -> Max - 16 * length(Ids)
                                end,
                         [fan_out(Port, Fanout, ferry_protocol:ws_send(lists:reverse(Ids), Run))
                          || Run <- ferry_protocol:ws_runs(Checked, Room)]
                 end, ByPort).

%% @private The listener of the calling WebSocket connection.
-spec listener() -> atom().
listener() ->
    (ctx())#ferry_ctx.listener.

frames(Frames) when is_list(Frames) ->
    [case ferry_protocol:ws_frame(F) of
         {ok, Frame, _Credit} -> Frame;
         error -> error({bad_frame, F})
     end || F <- Frames].

ctx() ->
    case get(?CTX) of
        #ferry_ctx{} = Ctx -> Ctx;
        undefined -> error({ferry_ws, not_a_websocket_process})
    end.

%% A port of a Rust process that died takes the command nowhere.
command(Port, Frame) ->
    try erlang:port_command(Port, Frame), ok
    catch error:badarg -> ok
    end.

%%% Registration

%% @private The process is now the WebSocket connection of `Ctx'.
-spec enter(#ferry_ctx{}) -> ok.
enter(Ctx) ->
    put(?CTX, Ctx),
    ok.

%% @private Each shard's port, as its Rust process says it is ready;
%% replaces the port of the process before it.
-spec register_port(atom(), pos_integer(), port(), pos_integer() | infinity,
                    ferry_fanout:window() | undefined) -> ok.
register_port(Listener, Shard, Port, MaxFrame, Fanout) ->
    true = ets:insert(ferry_listeners, {?PORT_KEY(Listener, Shard), Port, MaxFrame, Fanout}),
    ok.

%% @private
-spec unregister_port(atom(), pos_integer()) -> ok.
unregister_port(Listener, Shard) ->
    true = ets:delete(ferry_listeners, ?PORT_KEY(Listener, Shard)),
    ok.

shards(Listener) ->
    ets:select(ferry_listeners, [{{?PORT_KEY(Listener, '_'), '$1', '$2', '$3'}, [], [{{'$1', '$2', '$3'}}]}]).
