%% A WebSocket handler without terminate/3, for ferry_websocket_SUITE: tells
%% the test its pid and conn, echoes, and crashes on "crash".
-module(ferry_ws_echo_h).
-behaviour(ferry_websocket).
-export([websocket_init/1, websocket_handle/2, websocket_info/2]).

websocket_init(Test) ->
    Test ! {ws, self(), ferry_ws:self()},
    {ok, Test}.

websocket_handle({text, <<"crash">>}, _Test) ->
    error(on_purpose);
websocket_handle(Frame, Test) ->
    {reply, Frame, Test}.

websocket_info(_Info, Test) ->
    {ok, Test}.
