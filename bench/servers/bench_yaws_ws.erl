%% The WebSocket side of the yaws bench server (scenarios 8-11), the same
%% routes as bench/servers/bench_ferry_ws.erl with yaws' own WebSocket
%% (yaws_websockets, a gen_server per connection; yaws 2.1 has no
%% permessage-deflate). The group of the publish scenario is an OTP `pg'
%% group, as a Cowboy user would keep it: the publish sends one Erlang
%% message to each member, which writes the frame to its own socket.
-module(bench_yaws_ws).
-export([upgrade/2, publish/1, handle_open/2, handle_message/2, handle_info/2]).

-include_lib("yaws/include/yaws_api.hrl").

-define(GROUP, bench).

%% `?hibernate' in the query: the connection's gen_server hibernates as
%% soon as it is idle (its `hibernate_after' of 0 ms).
-spec upgrade(echo | sub, #arg{}) -> {websocket, module(), list()}.
upgrade(Role, Arg) ->
    Hibernate = case lists:keymember("hibernate", 1, yaws_api:parse_query(Arg)) of
                    true -> [{hibernate_after, 0}];
                    false -> []
                end,
    {websocket, ?MODULE, [{callback, {basic, Role}} | Hibernate]}.

-spec publish(binary()) -> ok.
publish(Text) ->
    _ = [Pid ! {publish, Text} || Pid <- pg:get_members(?GROUP)],
    ok.

-spec handle_open(term(), echo | sub) -> {ok, echo | sub}.
handle_open(WSState, sub) ->
    ok = pg:join(?GROUP, self()),
    yaws_websockets:send(WSState, {text, <<"joined">>}),
    {ok, sub};
handle_open(_WSState, echo) ->
    {ok, echo}.

-spec handle_message(tuple(), echo | sub) -> tuple().
handle_message({close, Status, _Reason}, State) ->
    {close, Status, State};
handle_message({Op, Data}, echo) when Op =:= text; Op =:= binary ->
    {reply, {Op, Data}, echo};
handle_message(_Message, State) ->
    {noreply, State}.

-spec handle_info(term(), echo | sub) -> tuple().
handle_info({publish, Text}, State) ->
    {reply, {text, Text}, State};
handle_info(_Info, State) ->
    {noreply, State}.
