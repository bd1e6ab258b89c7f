-module(ferry_log_tests).
-include_lib("eunit/include/eunit.hrl").

%% Every report ferry writes formats to one line of text.
formats_test_() ->
    L = #{listener => l, id => 3},
    Reports = [L#{what => handler_failed, class => error, reason => r, stacktrace => [],
                  method => <<"GET">>, path => <<"/p">>},
               L#{what => handler_failed, bad_return => oops},
               L#{what => handler_failed, bad_frame => {error, <<1>>}},
               L#{what => handler_failed, handler => fun(_) -> x end,
                  bad_response => {frame_too_large, 2000000, 1048576}},
               L#{what => handler_failed, handler => my_h,
                  bad_response => {content_length, [<<"5">>], 70000}},
               L#{what => handler_failed, bad_return => {103, [], <<>>}, why => informational},
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

line(Report) ->
    {Format, Args} = ferry_log:format(Report),
    unicode:characters_to_list(io_lib:format(Format, Args)).

has(Text, Part) -> string:find(Text, Part) =/= nomatch.

%% A port's exit names its code (docs/PROTOCOL.md "Exit codes") or the
%% signal that killed it.
port_exit_names_the_code_test_() ->
    Down = fun(Why) -> line(#{what => port_down, listener => l, reason => Why, os_pid => 1,
                              restart => 1, delay_ms => 10})
           end,
    [?_assert(has(Down({exit_status, 3}), "exit status 3 (EXIT_BAD_FRAME: a frame over max_frame")),
     ?_assert(has(Down({exit_status, 0}), "EXIT_OK")),
     ?_assert(has(Down({exit_status, 2}), "EXIT_LISTEN")),
     ?_assert(has(Down({exit_status, 4}), "EXIT_STDOUT")),
     ?_assert(has(Down({exit_status, 64}), "EXIT_USAGE")),
     ?_assert(has(Down({exit_status, 70}), "EXIT_PANIC")),
     ?_assert(has(Down({exit_status, 137}), "killed by signal 9 (SIGKILL)")),
     ?_assert(has(Down({exit_status, 143}), "killed by signal 15 (SIGTERM)")),
     ?_assert(has(Down({exit_status, 5}), "exit status 5 (not a code of ferry's)")),
     ?_assert(has(Down({port_closed, epipe}), "epipe")),
     ?_assert(has(Down(start_timeout), "start_timeout")),
     ?_assert(has(line(#{what => port_drained, listener => l, exit => {exit_status, 0}}),
                  "EXIT_OK"))].

%% A refused response says why, with the handler and the sizes.
bad_response_test() ->
    Line = line(#{what => handler_failed, listener => l, id => 3, method => <<"GET">>,
                  path => <<"/p">>, handler => my_h,
                  bad_response => {frame_too_large, 2000000, 1048576}}),
    ?assert(has(Line, "my_h")),
    ?assert(has(Line, "/p")),
    ?assert(has(Line, "2000000")),
    ?assert(has(Line, "max_frame (1048576")).
