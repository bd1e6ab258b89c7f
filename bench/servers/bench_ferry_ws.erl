%% The WebSocket side of the Ferry bench server (scenarios 8-11): an echo
%% socket and a subscriber of the publish scenario, the same as
%% bench/servers/bench_yaws_ws.erl does for yaws.
%%   GET /ws[?hibernate | ?hibernate_after=MS]  echo every text and binary message
%%   GET /ws/sub[?hibernate]  join the group "bench", say "joined", then only listen
%%   POST /publish            the body, as one text message, to every member
-module(bench_ferry_ws).
-behaviour(ferry_websocket).
-export([upgrade/2, publish/1, websocket_init/1, websocket_handle/2, websocket_info/2]).

-define(GROUP, <<"bench">>).

%% `Role' is echo or sub; `?hibernate' in the query hibernates the process
%% whenever it is idle, `?hibernate_after=MS' once it has been idle that
%% long (scenario 8 measures all three).
-spec upgrade(echo | sub, ferry_req:req()) -> ferry_handler:result().
upgrade(Role, Req) ->
    Qs = ferry_req:parse_qs(Req),
    Opts = case lists:keyfind(<<"hibernate_after">>, 1, Qs) of
               {_, Ms} -> #{hibernate_after => binary_to_integer(Ms)};
               false -> #{}
           end,
    {websocket, ?MODULE, Role, Opts#{hibernate => lists:keymember(<<"hibernate">>, 1, Qs)}}.

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
