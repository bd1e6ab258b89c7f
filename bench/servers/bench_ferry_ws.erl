%% The WebSocket side of the Ferry bench server (scenarios 8-11): an echo
%% socket and a subscriber of the publish scenario, the same as
%% bench/servers/bench_yaws_ws.erl does for yaws.
%%   GET /ws[?hibernate]      echo every text and binary message
%%   GET /ws/sub[?hibernate]  join the group "bench", say "joined", then only listen
%%   POST /publish            the body, as one text message, to every member
-module(bench_ferry_ws).
-behaviour(ferry_websocket).
-export([upgrade/2, publish/1, websocket_init/1, websocket_handle/2, websocket_info/2]).

-define(GROUP, <<"bench">>).

%% `Role' is echo or sub; `?hibernate' in the query hibernates the process
%% whenever it is idle (scenario 8 measures both).
-spec upgrade(echo | sub, ferry_req:req()) -> ferry_handler:result().
upgrade(Role, Req) ->
    Hibernate = lists:keymember(<<"hibernate">>, 1, ferry_req:parse_qs(Req)),
    {websocket, ?MODULE, Role, #{hibernate => Hibernate}}.

%% One command to the Rust process, which writes the frame to every member.
-spec publish(binary()) -> ok.
publish(Text) ->
    ferry_ws:publish(bench, ?GROUP, [{text, Text}]).

-spec websocket_init(atom()) -> ferry_websocket:call_result(atom()).
websocket_init(sub) ->
    ok = ferry_ws:join(?GROUP),
    {reply, {text, <<"joined">>}, sub};
websocket_init(echo) ->
    {ok, echo}.

-spec websocket_handle(ferry_websocket:in_frame(), atom()) -> ferry_websocket:call_result(atom()).
websocket_handle({Op, Data}, echo) when Op =:= text; Op =:= binary ->
    {reply, {Op, Data}, echo};
websocket_handle(_Frame, State) ->
    {ok, State}.

-spec websocket_info(term(), atom()) -> ferry_websocket:call_result(atom()).
websocket_info(_Info, State) ->
    {ok, State}.
