%% @doc Handlers on other BEAM nodes (docs/CLUSTER.md "Remote handlers").
%%
%% An application node serves a handler group: `serve(Group, Handler)'
%% starts a member process that joins the `pg' group `{handlers, Group}'
%% of Ferry's scope (`ferry_cluster'). On an edge node a route whose
%% handler is `{ferry_remote, Group}' sends its requests there: the
%% request's process on the edge routes it as any other, picks a member
%% (round-robin over the members the edge sees) and hands the request over
%% to the port owner (`ferry_port'), which spawns the handler process on
%% that member's node, linked, and from then on treats it as the request's
%% handler: it forwards body, credit and `closed' events to it, and relays
%% its commands to the port. The edge's own process then ends: the spawn
%% carries the request across, its reply comes back, each answer crosses
%% once, and the exit signal ends it; the windows of a local handler bound
%% what is in flight.
%%
%% A node that goes down or is disconnected with requests in flight makes
%% the links fire with `noconnection': ferry_port answers those requests
%% 502 (or closes a response that had begun). `pg' drops the node's
%% members, so the next requests go to the others; with none, 503 with
%% `retry-after'.
-module(ferry_remote).

-include("ferry_ctx.hrl").

-export([serve/2, child_spec/2, members/1, start_link/2]).
%% The route handler, on the edge.
-export([handle/2]).
%% For ferry_req and ferry_handler (a remote handler's commands), and the
%% handler process started on the application node.
-export([command/2, run/2]).
-export([member/3]).

-define(SCOPE, ferry_cluster).
%% The port owner a remote handler sends its commands to, in its dictionary.
-define(OWNER, '$ferry_remote_owner').
%% Seconds a client is told to wait when no member serves the group.
-define(RETRY_AFTER, <<"1">>).

%%% Application nodes

%% @doc This node serves `Group' with `Handler' (a handler as in a route:
%% a module, `{Module, Opts}' or a fun of arity 1) until the returned
%% process stops; it is linked to the caller. One handler per group per
%% node: a second `serve' of the same group on a node replaces the first's
%% handler for both.
-spec serve(term(), ferry_router:handler()) -> {ok, pid()} | {error, term()}.
serve(Group, Handler) ->
    start_link(Group, Handler).

%% @doc The same member, as a child of the user's supervisor.
-spec child_spec(term(), ferry_router:handler()) -> supervisor:child_spec().
child_spec(Group, Handler) ->
    #{id => {ferry_remote, Group},
      start => {?MODULE, start_link, [Group, Handler]},
      type => worker, restart => permanent, shutdown => 5000,
      modules => [?MODULE]}.

%% A plain process, not a gen_server: a module exporting init/1 would have
%% the router call it to check the route's options.
-spec start_link(term(), ferry_router:handler()) -> {ok, pid()} | {error, term()}.
start_link(Group, Handler) ->
    proc_lib:start_link(?MODULE, member, [self(), Group, Handler]).

%% @doc The members of `Group' this node sees, on every node.
-spec members(term()) -> [pid()].
members(Group) ->
    pg:get_members(?SCOPE, {handlers, Group}).

%% @private It only holds the membership: pg drops it when it ends.
-spec member(pid(), term(), ferry_router:handler()) -> no_return().
member(_Parent, Group, Handler) ->
    %% Read by run/2 in each request's process on this node.
    persistent_term:put({?MODULE, Group}, Handler),
    ok = pg:join(?SCOPE, {handlers, Group}, self()),
    proc_lib:init_ack({ok, self()}),
    receive after infinity -> ok end.

%%% Edge nodes

%% @private A route's handler `{ferry_remote, Group}', run in the request's
%% process on the edge.
-spec handle(ferry_req:req(), term()) -> ferry_handler:result().
handle(#{?FERRY_CTX := #ferry_ctx{owner = Owner, id = Id}} = Req, Group) ->
    case pick(Group) of
        none ->
            {503, [{<<"retry-after">>, ?RETRY_AFTER}, {<<"content-type">>, <<"text/plain">>}],
             <<"Service Unavailable: no node serves this route\n">>};
        Member ->
            %% The port owner spawns the handler there, linked to itself.
            Owner ! {ferry_remote, Id, self(), node(Member), Req, Group},
            %% ferry_handler ends this process quietly: the request is
            %% the remote process's now.
            exit({ferry, closed, handed_over})
    end.

%% Round-robin over the members: one counter per group on this node. A
%% member's position moves when members come and go, which costs at most
%% one uneven turn.
pick(Group) ->
    case members(Group) of
        [] -> none;
        [Member] -> Member;
        Members ->
            N = ets:update_counter(ferry_listeners, {?MODULE, rr, Group}, 1,
                                   {{?MODULE, rr, Group}, 0}),
            lists:nth(1 + N rem length(Members), Members)
    end.

%%% The handler process, on the application node

%% @private Spawned on the application node by handle/2.
-spec run(ferry_req:req(), term()) -> ok.
run(#{?FERRY_CTX := #ferry_ctx{owner = Owner} = Ctx} = Req, Group) ->
    put(?OWNER, Owner),
    case persistent_term:get({?MODULE, Group}, undefined) of
        undefined ->
            %% The member left between the pick and this spawn.
            command(Ctx#ferry_ctx.port,
                    ferry_protocol:respond(Ctx#ferry_ctx.id, 503,
                                           [{<<"retry-after">>, ?RETRY_AFTER}],
                                           <<"Service Unavailable\n">>));
        Handler ->
            #{method := Method, path := Path} = Req,
            put(?REQUEST_KEY, #{method => Method, path => Path, handler => Handler,
                                node => node()}),
            ferry_handler:call(Handler, Req, Ctx)
    end.

%% @private A command of a remote handler for the edge's port: the port
%% owner writes it (a port is reachable only from its node). `Port' tells
%% the owner's current Rust process from one that died since.
-spec command(port(), iodata()) -> ok.
command(Port, Frame) ->
    case get(?OWNER) of
        Owner when is_pid(Owner) ->
            Owner ! {ferry_command, Port, Frame},
            ok;
        undefined ->
            ok
    end.
