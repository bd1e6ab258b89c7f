-module(ferry_log_tests).
-include_lib("eunit/include/eunit.hrl").

%% Every report ferry writes formats to one line of text.
formats_test_() ->
    L = #{listener => l, id => 3},
    Reports = [L#{what => handler_failed, class => error, reason => r, stacktrace => [],
                  method => <<"GET">>, path => <<"/p">>},
               L#{what => handler_failed, bad_return => oops},
               L#{what => handler_failed, bad_frame => {error, <<1>>}},
               L#{what => handler_exit, reason => killed},
               L#{what => request_timeout, pid => self()},
               #{what => port_down, listener => l, reason => {exit_status, 137}, os_pid => 1,
                 restart => 2, delay_ms => 20},
               #{what => port_restarted, listener => l, os_pid => 1, restarts => 2},
               #{what => port_drained, listener => l, exit => {exit_status, 0}},
               #{what => port_log, listener => l, message => <<"héllo"/utf8>>},
               L#{what => protocol_error, message => <<"bad">>},
               #{what => listen_error, listener => l, kind => eaddrinuse, message => <<"m">>},
               #{what => unexpected_frame, listener => l, frame => {x}},
               L#{what => handler_failed, bad_return => {websocket, m, s, #{}},
                  why => {bad_options, [compress]}},
               L#{what => websocket_exit, reason => killed},
               L#{what => websocket_crashed, module => m, callback => websocket_handle,
                  path => <<"/ws">>, class => error, reason => r, stacktrace => []},
               L#{what => websocket_crashed, module => m, callback => terminate,
                  class => throw, reason => r, stacktrace => []},
               [L#{what => websocket_crashed, module => m, callback => websocket_info,
                   class => error, reason => {ferry_websocket, Kind, x}, stacktrace => []}
                || Kind <- [bad_return, bad_command]],
               L#{what => websocket_crashed, module => m, callback => websocket_info,
                  class => error, reason => {ferry_websocket, too_large, text, 9, 8},
                  stacktrace => []},
               #{what => something_else}],
    [?_assertMatch([_ | _], begin
                                {Format, Args} = ferry_log:format(R),
                                unicode:characters_to_list(io_lib:format(Format, Args))
                            end) || R <- lists:flatten(Reports)].
