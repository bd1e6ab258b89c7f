%% @doc The process of one request: routes it, runs the user's handler and
%% writes the answer straight to the port, so the port owner never
%% serializes responses.
%%
%% A handler that crashes or returns something that is not an answer gets
%% its client a 500 (`{abort, Id}': Rust answers 500, or closes the
%% connection if the response had begun) and a logger error report with the
%% request id. A handler whose client went away ends quietly. Kills and
%% deadlines are ferry_port's business: it sees this process exit.
-module(ferry_handler).

-include("ferry_ctx.hrl").

%% The heap, in words, a request's process starts with (start_link/2).
-define(REQUEST_HEAP, 610).

-export([start_link/2, run/2, lasting/0]).
%% For ferry_remote: a routed request's handler, on another node.
-export([call/3]).
-export_type([result/0]).

%% The behaviour of a handler module, as with cowboy_handler: this module
%% both defines it and runs it. The simple form returns the response; the
%% streaming form answers through ferry_req (read_body, stream_reply,
%% stream_body, sse_start, send_event) and returns `{done, Req}'.
-type result() :: {100..599, ferry_req:headers(), iodata()} | {done, ferry_req:req()}
                | {websocket, module(), term()}
                | {websocket, module(), term(), ferry_websocket:opts()}.
-callback handle(ferry_req:req()) -> result().

%% @doc Spawned by ferry_port, linked to it: if the port owner dies, so do
%% its handlers.
%%
%% A request's process starts with a heap of ?REQUEST_HEAP words (4.8 KB),
%% where a request with the headers a browser sends runs to the end
%% without a garbage collection: the VM's 233 words do not hold a decoded
%% request, and each collection on the way up copies it again. An Elixir
%% Ferry.Router hello world made one collection a request at 233 words
%% and spent a quarter less CPU without it (bench/README.md, "Session 6").
%% 987 words did no better than 610, and the larger heap an upgrade leaves
%% behind cost idle WebSockets memory. A process that outlives its request
%% (a stream, a WebSocket) goes back to the VM's minimum: see lasting/0.
-spec start_link(#ferry_ctx{}, map() | binary()) -> pid().
start_link(Ctx, Req) ->
    spawn_opt(?MODULE, run, [Ctx, Req], [link, {min_heap_size, ?REQUEST_HEAP}]).

%% @doc The calling handler process will outlive its request (a stream, a
%% WebSocket): its heap may shrink to the VM's minimum again at its next
%% collection.
-spec lasting() -> ok.
lasting() ->
    {min_heap_size, Words} = erlang:system_info(min_heap_size),
    _ = process_flag(min_heap_size, Words),
    ok.

-spec run(#ferry_ctx{}, map() | binary()) -> ok.
run(Ctx, Frame) when is_binary(Frame) ->
    case ferry_protocol:decode(Frame) of
        {request, _Id, #{method := _, path := _} = Req} ->
            run(Ctx, Req);
        Other ->
            report(Ctx, undefined, #{bad_frame => Other}),
            fail(Ctx)
    end;
run(Ctx, #{method := _, path := _} = Req) ->
    ferry_lifecycle:request_start(Ctx, Req),
    route(Ctx, Req),
    ferry_lifecycle:request_stop(Ctx).

route(#ferry_ctx{listener = Listener} = Ctx, #{method := Method, path := Path} = Req0) ->
    case ferry_router:match_route(Method, Path, persistent_term:get({ferry_router, Listener})) of
        {ok, Handler, Bindings, PathInfo, Pattern} ->
            %% For ferry_port's reports on this request (a timeout, a
            %% refused command): it reads them only then.
            put(?REQUEST_KEY, #{method => Method, path => Path, handler => Handler}),
            put(?ROUTE_KEY, Pattern),
            Req = Req0#{bindings => Bindings, path_info => PathInfo, ?FERRY_CTX => Ctx},
            call(Handler, Req, Ctx);
        {error, not_found} ->
            respond(Ctx, 404, [], <<"Not Found\n">>);
        {error, {method_not_allowed, Allow}} ->
            respond(Ctx, 405, [{<<"allow">>, Allow}], <<"Method Not Allowed\n">>);
        {error, bad_path} ->
            respond(Ctx, 400, [], <<"Bad Request\n">>)
    end.

%% @private
-spec call(ferry_router:handler(), ferry_req:req(), #ferry_ctx{}) -> ok.
%% finish/3 is inside the try too: sending a large returned body waits for
%% credit and may find the client gone, and a response that cannot be sent
%% is reported like one the handler sent through ferry_req.
call(Handler, Req, Ctx) ->
    try finish(invoke(Handler, Req), Req, Ctx)
    catch
        exit:{ferry, closed, Why} ->
            ferry_lifecycle:closed(Why);
        error:{ferry, bad_request, Why} ->
            bad_request(Ctx, Why);
        exit:{ferry, abort, _} ->
            %% The handler reported its failure itself (the Elixir router
            %% does, with the route): the response is aborted, and one
            %% report is enough.
            fail(Ctx);
        error:{ferry, bad_response, Why} ->
            report(Ctx, Req, #{handler => Handler, bad_response => Why}),
            fail(Ctx);
        Class:Reason:Stack ->
            ferry_lifecycle:exception(Class, Reason, Stack),
            report(Ctx, Req, #{handler => Handler, class => Class, reason => Reason,
                               stacktrace => Stack}),
            fail(Ctx)
    end.

invoke(Fun, Req) when is_function(Fun, 1) -> Fun(Req);
invoke({Module, Opts}, Req) -> Module:handle(Req, Opts);
invoke(Module, Req) -> Module:handle(Req).

finish({Status, Headers, Body} = Result, Req, Ctx)
  when is_integer(Status), Status >= 200, Status =< 599 ->
    case ferry_req:response_state() of
        none ->
            try {ferry_req:encode_headers(Headers), iolist_size(Body)} of
                {Encoded, Size} -> ferry_req:respond(Ctx, Req, Status, Encoded, Body, Size)
            catch error:_ -> garbage(Ctx, Req, Result)
            end;
        _ ->
            garbage(Ctx, Req, Result)
    end;
finish({Status, _, _} = Result, Req, Ctx) when is_integer(Status), Status >= 100 ->
    %% Rust would send the 1xx head and wait for a final answer that never
    %% comes (then 504); ferry_req:reply/4 is the way to send a 1xx.
    report(Ctx, Req, #{bad_return => Result, why => informational}),
    fail(Ctx);
finish({done, _} = Result, Req, #ferry_ctx{port = Port, id = Id} = Ctx) ->
    case ferry_req:response_state() of
        done -> ok;
        streaming -> send(Port, ferry_protocol:stream_end(Id, []));
        none -> garbage(Ctx, Req, Result)
    end;
finish({websocket, Module, State}, Req, Ctx) ->
    finish({websocket, Module, State, #{}}, Req, Ctx);
finish({websocket, Module, State, Opts} = Result, Req, Ctx) ->
    %% The process becomes the connection's until it closes.
    case ferry_req:response_state() =:= none
        andalso ferry_websocket:upgrade(Req, Module, State, Opts) of
        ok -> ok;
        false -> garbage(Ctx, Req, Result);
        {error, Why} -> report(Ctx, Req, #{bad_return => Result, why => Why}), fail(Ctx)
    end;
finish(Result, Req, Ctx) ->
    garbage(Ctx, Req, Result).

%% The request, not the handler, is at fault (a query string that is not
%% one, a parameter match_qs refused): 400 saying why, as Cowboy answers
%% it, and no report.
bad_request(Ctx, Why) ->
    case ferry_req:response_state() of
        none -> respond(Ctx, 400, [{<<"content-type">>, <<"text/plain; charset=utf-8">>}],
                        [<<"Bad Request: ">>, ferry_qs:describe(Why), $\n]);
        _ -> fail(Ctx)
    end.

garbage(Ctx, Req, Result) ->
    report(Ctx, Req, #{bad_return => Result}),
    fail(Ctx).

fail(#ferry_ctx{port = Port, id = Id}) ->
    case ferry_req:response_state() of
        done -> ok;
        none -> ferry_lifecycle:responded(500, 0), send(Port, ferry_protocol:abort(Id));
        streaming -> send(Port, ferry_protocol:abort(Id))
    end.

respond(#ferry_ctx{port = Port, id = Id}, Status, Headers, Body) ->
    ferry_lifecycle:responded(Status, iolist_size(Body)),
    send(Port, ferry_protocol:respond(Id, Status, Headers, Body)).

%% A dead port lost this request; ferry_port restarts it and cleans up.
%% A handler on another node than the port's sends through the port owner.
send(Port, Frame) when node(Port) =/= node() ->
    ferry_remote:command(Port, Frame);
send(Port, Frame) ->
    try erlang:port_command(Port, Frame), ok
    catch error:badarg -> ok
    end.

report(#ferry_ctx{listener = Listener, id = Id, os_pid = OsPid}, Req, What) ->
    Request = case {Req, get(?REQUEST_KEY)} of
                  {_, #{} = Routed} -> Routed;
                  {#{method := M, path := P}, _} -> #{method => M, path => P};
                  _ -> #{}
              end,
    ferry_log:report(error, maps:merge(What, Request#{what => handler_failed, listener => Listener,
                                                      id => Id, os_pid => OsPid})).
