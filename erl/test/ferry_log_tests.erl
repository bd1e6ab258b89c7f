-module(ferry_log_tests).
-include_lib("eunit/include/eunit.hrl").
-export([log/2]).

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
               L#{what => websocket_crashed, module => m, callback => websocket_info,
                  class => error, reason => {ferry_websocket, bad_return, x}},
               L#{what => websocket_crashed, module => m, callback => websocket_info,
                  class => error, reason => {ferry_websocket, bad_command, x}},
               L#{what => websocket_crashed, module => m, callback => websocket_info,
                  class => error, reason => {ferry_websocket, too_large, text, 9, 8}},
               #{what => port_hung, listener => l, os_pid => 1, timeout_ms => 10},
               #{what => listening, listener => l, ip => <<"::1">>, port => 1, version => <<"0">>,
                 shards => 2, handler => {routes, 3, undefined}},
               #{what => start_failed, listener => l, reason => {bad_option, x}, detail => "d"},
               #{what => something_else}],
    [?_assertMatch([_ | _], line(R)) || R <- Reports] ++
    %% One line (a crash's stack trace aside): Elixir's Logger shows these
    %% too, and it formats what it is given with its own rules.
    [?_assertEqual(nomatch, string:find(line(R), "\n")) || R <- Reports, not is_map_key(stacktrace, R)].

%% Elixir's Logger formats the {Format, Args} of a report_cb itself, and
%% reads ~0p as a width of 0 (a term broken on every element): the line
%% comes preformatted, behind ~ts alone.
preformatted_for_elixir_test() ->
    {Format, [Line]} = ferry_log:format(#{what => handler_failed, listener => l, id => 1,
                                          bad_return => {500, [{<<"content-type">>, <<"t">>}], 1}}),
    ?assertEqual("~ts", Format),
    ?assertEqual(nomatch, string:find(unicode:characters_to_list(Line), "\n")).

%% Listener and module names are written as their users write them.
names_test_() ->
    [?_assertEqual(<<"MyApp.HTTP">>, iolist_to_binary(ferry_log:name('Elixir.MyApp.HTTP'))),
     ?_assertEqual(<<"my_listener">>, iolist_to_binary(ferry_log:name(my_listener))),
     ?_assert(has(line(#{what => handler_failed, listener => 'Elixir.MyApp.HTTP', id => 1,
                         handler => 'Elixir.MyApp.Router', bad_return => x}),
                  "ferry listener MyApp.HTTP, request 1 (handler MyApp.Router)")),
     ?_assert(has(line(#{what => port_down, listener => 'Elixir.MyApp.HTTP', reason => x,
                         os_pid => 1, restart => 1, delay_ms => 10}),
                  "ferry listener MyApp.HTTP: "))].

%% A request is named by the Rust process and its id, which restarts with
%% each process; with its method, path and handler when known.
request_context_test_() ->
    R = #{what => request_timeout, listener => l, id => 24, os_pid => 4711, pid => self(),
          method => <<"GET">>, path => <<"/slow">>, handler => slow_h, timeout_ms => 300},
    Meta = fun(Report) ->
                   %% What ferry_log:report/2 gives logger as metadata.
                   Self = self(),
                   Id = ferry_log_tests_meta,
                   ok = logger:add_handler(Id, ?MODULE, #{config => Self}),
                   try ferry_log:report(error, Report),
                        receive {logged, M} -> M after 5000 -> timeout end
                   after logger:remove_handler(Id)
                   end
           end,
    [?_assert(has(line(R), "handler of request 4711-24 GET /slow (handler slow_h) overran "
                           "request_timeout (300 ms); answered 503")),
     ?_assert(has(line(R#{what => protocol_error, message => <<"m">>}),
                  "refused a command for request 4711-24 GET /slow")),
     ?_assertMatch(#{listener := l, request_id := <<"4711-24">>, method := <<"GET">>,
                     path := <<"/slow">>, handler := slow_h}, Meta(R)),
     %% No domain: OTP's default handler drops every domain but otp's.
     ?_assertNot(is_map_key(domain, Meta(R)))].

%% A client's path that is not UTF-8 still prints.
non_utf8_path_test() ->
    ?assert(has(line(#{what => handler_failed, listener => l, id => 1, method => <<"GET">>,
                       path => <<"/", 255>>, bad_return => x}), "<<47,255>>")).

%% logger handler callback for request_context_test_/0
log(#{meta := Meta}, #{config := Pid}) -> Pid ! {logged, Meta}.

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
     ?_assert(has(Down({port_closed, epipe}), "Ferry did not stop it")),
     ?_assert(has(Down({hung, {exit_status, 137}}), "killed by the heartbeat with SIGKILL (exit status 137)")),
     ?_assert(has(Down({hung, {port_closed, epipe}}), "killed by the heartbeat with SIGKILL")),
     ?_assert(has(Down(start_timeout), "start_timeout")),
     ?_assert(has(line(#{what => port_drained, listener => l, exit => {exit_status, 0}}),
                  "EXIT_OK"))].

%% Dropped topic broadcasts say how many, and where to count them all.
topic_broadcasts_dropped_test() ->
    Line = line(#{what => topic_broadcasts_dropped, dropped => 42, backlog => 10000}),
    ?assert(has(Line, "42 broadcasts from other nodes dropped")),
    ?assert(has(Line, "more than 10000 waiting")),
    ?assert(has(Line, "ferry_pubsub:dropped/0")).

%% A refused response says why, with the handler and the sizes.
bad_response_test() ->
    Line = line(#{what => handler_failed, listener => l, id => 3, method => <<"GET">>,
                  path => <<"/p">>, handler => my_h,
                  bad_response => {frame_too_large, 2000000, 1048576}}),
    ?assert(has(Line, "my_h")),
    ?assert(has(Line, "/p")),
    ?assert(has(Line, "2000000")),
    ?assert(has(Line, "max_frame (1048576")).
