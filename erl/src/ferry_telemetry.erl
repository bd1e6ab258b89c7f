%% @doc Ferry's events, telemetry-shaped: `attach/4' a fun to event names,
%% `detach/1' it, and `execute/3' to emit (docs/ERLANG_API.md "Events"
%% lists the events ferry emits).
%%
%% The handlers live in one persistent_term, a map of event name to
%% handlers, under an atom key: emitting reads it (no copy) and looks the
%% event up in a map that is empty while nobody listens. `listening/1' lets
%% a caller skip building measurements and metadata.
%% Attaching and detaching rewrite the terms (a global GC pass), which is
%% fine for something done at start-up and on a handler's crash.
%%
%% Every event also goes to `telemetry:execute/3' when the telemetry
%% application is loaded: found at run time, never depended on (Phoenix
%% LiveDashboard, Prometheus exporters and loggers attach there). A handler
%% of ours that raises is detached and logged, as telemetry does; the
%% process that emitted carries on.
-module(ferry_telemetry).

-export([attach/4, attach_many/4, detach/1, list_handlers/0, execute/3, listening/1]).
-export_type([event_name/0, handler_id/0, handler_fun/0]).

-type event_name() :: [atom(), ...].
-type handler_id() :: term().
-type handler_fun() :: fun((event_name(), map(), map(), term()) -> any()).

%% #{EventName => [{Id, Fun, Config}]}.
-define(EVENTS, ?MODULE).
%% Every handler: #{Id => {EventNames, Fun, Config}}.
-define(ALL, {?MODULE, handlers}).
-define(LOCK, {?MODULE, self()}).

%% @doc Calls `Fun(EventName, Measurements, Metadata, Config)' for each
%% `execute/3' of `EventName', in the emitting process. `{error,
%% already_exists}' when a handler with `Id' is attached.
-spec attach(handler_id(), event_name(), handler_fun(), term()) -> ok | {error, already_exists}.
attach(Id, EventName, Fun, Config) ->
    attach_many(Id, [EventName], Fun, Config).

%% @doc `attach/4' for several event names under one `Id'.
-spec attach_many(handler_id(), [event_name()], handler_fun(), term()) ->
          ok | {error, already_exists}.
attach_many(Id, EventNames, Fun, Config) when is_function(Fun, 4), is_list(EventNames) ->
    lists:all(fun is_event_name/1, EventNames) orelse error(badarg, [Id, EventNames, Fun, Config]),
    locked(fun() ->
                   All = persistent_term:get(?ALL, #{}),
                   case is_map_key(Id, All) of
                       true ->
                           {error, already_exists};
                       false ->
                           persistent_term:put(?ALL, All#{Id => {EventNames, Fun, Config}}),
                           Events = lists:foldl(
                                      fun(E, Acc) ->
                                              Acc#{E => maps:get(E, Acc, []) ++ [{Id, Fun, Config}]}
                                      end, events(), lists:usort(EventNames)),
                           persistent_term:put(?EVENTS, Events)
                   end
           end).

is_event_name(Name) -> is_list(Name) andalso Name =/= [] andalso lists:all(fun is_atom/1, Name).

%% @doc Stops delivery to the handler `Id'; `{error, not_found}' if none.
-spec detach(handler_id()) -> ok | {error, not_found}.
detach(Id) ->
    locked(fun() ->
                   All = persistent_term:get(?ALL, #{}),
                   case maps:take(Id, All) of
                       error ->
                           {error, not_found};
                       {{EventNames, _, _}, Rest} ->
                           persistent_term:put(?ALL, Rest),
                           Events = lists:foldl(
                                      fun(E, Acc) ->
                                              case lists:keydelete(Id, 1, maps:get(E, Acc, [])) of
                                                  [] -> maps:remove(E, Acc);
                                                  Left -> Acc#{E => Left}
                                              end
                                      end, events(), lists:usort(EventNames)),
                           persistent_term:put(?EVENTS, Events)
                   end
           end).

%% @doc The attached handlers, as `#{id, event_names, function, config}'.
-spec list_handlers() -> [map()].
list_handlers() ->
    [#{id => Id, event_names => Names, function => Fun, config => Config}
     || {Id, {Names, Fun, Config}} <- maps:to_list(persistent_term:get(?ALL, #{}))].

%% @doc Is anyone listening to `EventName' (here or, when it is loaded,
%% through telemetry)? Lets the emitter skip building the event.
-spec listening(event_name()) -> boolean().
listening(EventName) ->
    handlers(EventName) =/= [] orelse erlang:function_exported(telemetry, execute, 3).

%% @doc Emits an event to ferry's handlers of `EventName', then to
%% telemetry's when telemetry is loaded.
-spec execute(event_name(), map(), map()) -> ok.
execute(EventName, Measurements, Metadata) ->
    _ = [call(H, EventName, Measurements, Metadata) || H <- handlers(EventName)],
    case erlang:function_exported(telemetry, execute, 3) of
        true -> telemetry:execute(EventName, Measurements, Metadata);
        false -> ok
    end,
    ok.

handlers(EventName) ->
    case persistent_term:get(?EVENTS, #{}) of
        Empty when map_size(Empty) =:= 0 -> [];
        Events -> maps:get(EventName, Events, [])
    end.

events() ->
    persistent_term:get(?EVENTS, #{}).

call({Id, Fun, Config}, EventName, Measurements, Metadata) ->
    try Fun(EventName, Measurements, Metadata, Config)
    catch Class:Reason:Stack ->
            _ = detach(Id),
            ferry_log:report(error, #{what => telemetry_handler_failed, handler_id => Id,
                                      event => EventName, class => Class, reason => Reason,
                                      stacktrace => Stack})
    end.

%% Attach and detach read, change and write two terms: one at a time.
locked(Fun) ->
    global:trans(?LOCK, Fun, [node()]).
