%% @doc Listener options: validation, and the defaults of every option the
%% Erlang side owns (this module is the one place they live; docs point here).
%%
%% Options of the Rust port's `listen' config (ip, port, limits, timeouts,
%% windows) are checked for their type here and passed through: their
%% defaults live in Rust (src/config.rs, printed by `ferry --options-markdown'
%% as docs/OPTIONS.md), and Rust rejects a bad value with
%% `{listen_error, {bad_option, Key}}', which start_listener returns as
%% `{error, {bad_option, Key}}'.
-module(ferry_opts).

-export([validate/1, defaults/0, req_default/1, rust_keys/0, default_binary/0]).
-export_type([validated/0]).

-type validated() :: #{router := ferry_router:compiled(),
                       binary := file:filename_all(),
                       shards := pos_integer(),
                       restart_backoff := {non_neg_integer(), pos_integer()},
                       request_timeout := pos_integer() | infinity,
                       drain_timeout := non_neg_integer(),
                       start_timeout := pos_integer(),
                       listen := #{atom() => term()}}.

%% @doc Defaults of the Erlang-side listener options. `binary' is absent:
%% it defaults to `default_binary()', which needs the application loaded.
-spec defaults() -> map().
defaults() ->
    #{routes => [],
      handler => undefined,
      shards => 1,
      %% First retry after 10 ms, doubling up to 10 s while the port keeps
      %% failing before it has served for ?STABLE_MS (see ferry_port).
      restart_backoff => {10, 10000},
      %% How long a handler may run before its response starts; then 503.
      %% Below the port's handler_timeout (60 s, its 504), so ours comes first.
      request_timeout => 30000,
      %% How long stop_listener lets requests in flight finish.
      drain_timeout => 5000,
      %% How long a port may take to answer `listen' with `ready'.
      start_timeout => 5000}.

%% @doc Defaults of the `ferry_req' helpers' per-call options.
-spec req_default(read_length | read_timeout | send_timeout | send_window | body_window
                  | max_frame) -> pos_integer().
req_default(read_length) -> 1048576;   % bytes a read_body call returns at most
req_default(read_timeout) -> 60000;    % ms a read_body call waits for body bytes
req_default(send_timeout) -> 60000;    % ms a stream_body call waits for credit
%% The windows assumed when the port does not say its own in `ready'
%% (always safe: no larger than any window Rust allows).
req_default(send_window) -> 65536;
req_default(body_window) -> 65536;
%% The largest frame assumed when `ready' does not say it and the listener
%% does not set it: Rust's default (src/config.rs DEFAULT_MAX_FRAME).
req_default(max_frame) -> 67108864.

%% @doc The keys of the Rust port's `listen' config (docs/OPTIONS.md); a
%% test keeps this list equal to what `ferry --options-markdown' prints.
-spec rust_keys() -> [atom()].
rust_keys() ->
    [ip, port, backlog, reuseport, max_connections, max_request_line,
     max_header_bytes, max_headers, max_body, inline_body, body_window,
     send_window, out_high_water, max_frame, header_timeout, idle_timeout,
     handler_timeout, send_timeout, min_send_rate, min_body_rate, sent_events,
     log_level, ws_max_frame, ws_max_message, ws_deflate, ws_idle_timeout].

-spec default_binary() -> file:filename().
default_binary() ->
    case code:priv_dir(ferry) of
        {error, bad_name} -> filename:join(["priv", "ferry"]);
        Dir -> filename:join(Dir, "ferry")
    end.

%% @doc Checks every option before anything starts; fills in defaults.
-spec validate(map()) -> {ok, validated()} | {error, {bad_option, term()}}.
validate(Opts) when is_map(Opts) ->
    RustKeys = rust_keys(),
    Defaults = defaults(),
    try
        maps:foreach(fun(K, V) -> check(K, V, RustKeys, Defaults) end, Opts),
        All = maps:merge(Defaults#{binary => default_binary()}, Opts),
        {ErlSide, Listen} = maps:fold(
                              fun(K, V, {E, L}) ->
                                      case lists:member(K, RustKeys) of
                                          true -> {E, L#{K => listen_value(K, V)}};
                                          false -> {E#{K => V}, L}
                                      end
                              end, {#{}, #{}}, All),
        #{routes := Routes, handler := Handler} = ErlSide,
        Routes =:= [] andalso Handler =:= undefined andalso throw({bad_option, handler}),
        case ferry_router:compile(Routes, Handler) of
            {ok, Router} ->
                Base = maps:without([routes, handler], ErlSide),
                {ok, Base#{router => Router, listen => Listen}};
            {error, _} = Error -> Error
        end
    catch throw:{bad_option, _} = Bad -> {error, Bad}
    end;
validate(_) ->
    {error, {bad_option, opts}}.

check(K, V, RustKeys, Defaults) ->
    Ok = case lists:member(K, RustKeys) of
             true -> valid_rust(K, V);
             false -> (maps:is_key(K, Defaults) orelse K =:= binary)
                          andalso valid_erl(K, V)
         end,
    Ok orelse throw({bad_option, K}).

valid_erl(routes, V) -> is_list(V);
valid_erl(handler, _) -> true;  % ferry_router:compile/2 checks it
valid_erl(binary, V) -> is_binary(V) orelse io_lib:printable_unicode_list(V);
valid_erl(shards, V) -> is_integer(V) andalso V >= 1 andalso V =< 64;
valid_erl(restart_backoff, {Min, Max}) ->
    is_integer(Min) andalso is_integer(Max) andalso Min >= 0 andalso Max >= max(Min, 1);
valid_erl(request_timeout, infinity) -> true;
valid_erl(request_timeout, V) -> is_integer(V) andalso V > 0;
valid_erl(drain_timeout, V) -> is_integer(V) andalso V >= 0;
valid_erl(start_timeout, V) -> is_integer(V) andalso V > 0;
valid_erl(_, _) -> false.

valid_rust(ip, V) when is_binary(V) -> true;
valid_rust(ip, V) when is_list(V) -> io_lib:printable_list(V);
valid_rust(ip, V) when is_tuple(V) -> is_ip(V);
valid_rust(ip, _) -> false;
valid_rust(port, V) -> is_integer(V) andalso V >= 0 andalso V =< 65535;
valid_rust(K, V) when K =:= reuseport; K =:= sent_events -> is_boolean(V);
valid_rust(log_level, V) -> lists:member(V, [debug, info, notice, warning, error]);
valid_rust(_, V) -> is_integer(V) andalso V >= 0.

is_ip(T) ->
    case inet:ntoa(T) of
        {error, einval} -> false;
        _ -> true
    end.

listen_value(ip, V) when is_list(V) -> list_to_binary(V);
listen_value(_, V) -> V.
