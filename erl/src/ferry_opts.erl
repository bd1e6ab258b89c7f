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

-export([validate/1, explain/2, allowed/1, keys/0, defaults/0, req_default/1, rust_keys/0,
         default_binary/0]).
-export([file_defaults/1]).
-export_type([validated/0]).

-type validated() :: #{router := ferry_router:compiled(),
                       binary := file:filename_all(),
                       shards := pos_integer(),
                       restart_backoff := {non_neg_integer(), pos_integer()},
                       request_timeout := pos_integer() | infinity,
                       drain_timeout := non_neg_integer(),
                       start_timeout := pos_integer(),
                       heartbeat_timeout := pos_integer() | infinity,
                       publish_window := pos_integer(),
                       access_log := false | true | logger:level(),
                       listen := #{atom() => term()}}.

%% @doc Defaults of the Erlang-side listener options. `binary' is absent:
%% it defaults to `default_binary()', which needs the application loaded.
%% `port' is a key of Rust's, whose own default (0, any free port) suits
%% the port program; a listener gets a port a newcomer expects instead
%% (Elixir's `Ferry' passes 4000, as Bandit and Phoenix do).
-spec defaults() -> map().
defaults() ->
    #{port => 8080,
      routes => [],
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
      start_timeout => 5000,
      %% A Rust process that leaves a `stats' request unanswered this long
      %% is hung (stopped, or stuck in a loop): it is killed and restarted.
      %% One is sent every this many ms while the port serves.
      heartbeat_timeout => 10000,
      %% Socket writes of fan-out (ws_publish, ws_send to a list) a shard
      %% may have been handed and not yet done; a publisher past it waits
      %% (ferry_fanout). 2048 writes are ~10 ms of the kernel's TCP work
      %% here: what a response or a stats request waits behind, at most
      %% (one publish to a larger group is let in alone). A/B in
      %% ferry_realtime_SUITE's floods, bystander p50 / publishes in 30 s:
      %% 8192 writes 102 ms / 5041, 4096 58 ms / 5009, 2048 28 ms / 5143.
      publish_window => 2048,
      %% One logger line per request (ferry_access_log), at this level
      %% (true: info). It turns the port's sent_events on, unless the
      %% listener turns them off, so the line has the bytes Rust wrote.
      access_log => false}.

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
     log_level, upload_dir,
     ws_max_frame, ws_max_message, ws_max_inflated, ws_message_timeout, ws_deflate,
     ws_deflate_takeover, ws_idle_timeout, ws_close_timeout, tls].

-spec default_binary() -> file:filename().
default_binary() ->
    case code:priv_dir(ferry) of
        {error, bad_name} -> filename:join(["priv", "ferry"]);
        Dir -> filename:join(Dir, "ferry")
    end.

%% @doc Checks every option before anything starts; fills in defaults.
%% `explain/2' says what is wrong, for people.
-spec validate(map()) -> {ok, validated()} | {error, {bad_option, term()}}.
validate(Opts) when is_map(Opts) ->
    RustKeys = rust_keys(),
    Defaults = defaults(),
    try
        maps:foreach(fun(K, V) -> check(K, V, RustKeys, Defaults) end, Opts),
        All = maps:merge(Defaults#{binary => default_binary()}, Opts),
        {ErlSide, Listen0} = maps:fold(
                              fun(K, V, {E, L}) ->
                                      case lists:member(K, RustKeys) of
                                          true -> {E, L#{K => listen_value(K, V)}};
                                          false -> {E#{K => V}, L}
                                      end
                              end, {#{}, #{}}, All),
        #{routes := Routes, handler := Handler} = ErlSide,
        Listen = with_sent_events(ErlSide, Opts, Listen0),
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
valid_erl(K, infinity) when K =:= request_timeout; K =:= heartbeat_timeout -> true;
valid_erl(K, V) when K =:= request_timeout; K =:= start_timeout; K =:= heartbeat_timeout ->
    is_integer(V) andalso V > 0;
valid_erl(drain_timeout, V) -> is_integer(V) andalso V >= 0;
valid_erl(publish_window, V) -> is_integer(V) andalso V >= 1 andalso V =< 1000000;
valid_erl(access_log, V) -> is_boolean(V) orelse lists:member(V, levels());
valid_erl(_, _) -> false.

valid_rust(ip, V) when is_binary(V) -> true;
valid_rust(ip, V) when is_list(V) -> io_lib:printable_list(V);
valid_rust(ip, V) when is_tuple(V) -> is_ip(V);
valid_rust(ip, _) -> false;
valid_rust(port, V) -> is_integer(V) andalso V >= 0 andalso V =< 65535;
valid_rust(K, V) when K =:= reuseport; K =:= sent_events -> is_boolean(V);
valid_rust(log_level, V) -> lists:member(V, [debug, info, notice, warning, error]);
valid_rust(upload_dir, V) when is_binary(V) -> V =/= <<>> andalso binary:match(V, <<0>>) =:= nomatch;
valid_rust(upload_dir, V) when is_list(V) ->
    V =/= [] andalso io_lib:printable_unicode_list(V) andalso not lists:member(0, V);
valid_rust(upload_dir, _) -> false;
%% Its files and the rest are Rust's to check (ferry_tls:listen_value/1
%% only reshapes); a bad one fails start with the file and the reason.
valid_rust(tls, V) -> is_map(V);
valid_rust(_, V) -> is_integer(V) andalso V >= 0.

%% The access log wants Rust's `sent' events (the bytes written, the time
%% the last one was), unless the listener said no to them.
with_sent_events(#{access_log := false}, _Opts, Listen) -> Listen;
with_sent_events(_ErlSide, #{sent_events := false}, Listen) -> Listen;
with_sent_events(_ErlSide, _Opts, Listen) -> Listen#{sent_events => true}.

levels() -> [emergency, alert, critical, error, warning, notice, info, debug].

is_ip(T) ->
    case inet:ntoa(T) of
        {error, einval} -> false;
        _ -> true
    end.

listen_value(ip, V) when is_list(V) -> list_to_binary(V);
listen_value(upload_dir, V) when is_list(V) -> unicode:characters_to_binary(V);
listen_value(tls, V) -> ferry_tls:listen_value(V);
listen_value(_, V) -> V.

%% @doc What is wrong with `Opts', as `validate/1' found it: an unknown
%% key (and the keys there are), or a key's value and what it must be, or
%% which route is wrong and why.
-spec explain({bad_option, term()}, term()) -> unicode:chardata().
explain({bad_option, opts}, Opts) when not is_map(Opts) ->
    io_lib:format("listener options must be a map, got: ~0tP", [Opts, 20]);
explain({bad_option, handler}, Opts) when is_map(Opts), not is_map_key(handler, Opts) ->
    "no handler and no routes: give routes => [{Method, Path, Handler}], handler => Handler, "
    "or both";
explain({bad_option, Key}, Opts) when is_map(Opts), (Key =:= routes orelse Key =:= handler) ->
    case ferry_router:why(maps:get(routes, Opts, []), maps:get(handler, Opts, undefined)) of
        "" -> io_lib:format("bad value for option ~0tp", [Key]);
        Why -> Why
    end;
explain({bad_option, Key}, Opts) when is_map(Opts), is_map_key(Key, Opts) ->
    case is_known(Key) of
        true ->
            io_lib:format("option ~0tp => ~0tP ~ts", [Key, maps:get(Key, Opts), 20, allowed(Key)]);
        false ->
            io_lib:format("unknown option ~0tp; the options are ~ts", [Key, known()])
    end;
explain({bad_option, Key}, _Opts) ->
    %% Refused by the Rust process, which said why in its own message.
    io_lib:format("bad value for option ~0tp (docs/OPTIONS.md gives what it may be)", [Key]).

is_known(Key) ->
    lists:member(Key, keys()).

known() ->
    lists:join(", ", [atom_to_list(K) || K <- keys()]).

%% @doc Every key a listener takes, sorted.
-spec keys() -> [atom()].
keys() ->
    lists:usort([binary | maps:keys(defaults())] ++ rust_keys()).

%% @doc What a key's value must be, for people ("must be ...").
-spec allowed(atom()) -> string().
allowed(shards) -> "must be an integer 1..64";
allowed(restart_backoff) -> "must be {MinMs, MaxMs}, integers with 0 =< MinMs =< MaxMs, MaxMs >= 1";
allowed(request_timeout) -> "must be a positive integer (ms) or infinity";
allowed(heartbeat_timeout) -> "must be a positive integer (ms) or infinity";
allowed(start_timeout) -> "must be a positive integer (ms)";
allowed(drain_timeout) -> "must be a non-negative integer (ms)";
allowed(publish_window) -> "must be an integer 1..1000000 (socket writes)";
allowed(access_log) -> "must be false, true (info) or a logger level";
allowed(binary) -> "must be the path of the ferry executable, a string or a binary";
allowed(ip) -> "must be an address: a binary or string such as \"::1\", or an inet:ip_address() tuple";
allowed(port) -> "must be an integer 0..65535 (0: any free port)";
allowed(K) when K =:= reuseport; K =:= sent_events -> "must be true or false";
allowed(log_level) -> "must be one of debug, info, notice, warning, error";
allowed(tls) -> "must be a map: certfile, keyfile, password, cacertfile, verify, "
                "fail_if_no_peer_cert, sni_hosts, handshake_timeout (docs/OPTIONS.md)";
allowed(_) -> "must be a non-negative integer (docs/OPTIONS.md gives its range)".

%% @doc Defaults of the options of the file helpers: the handler options
%% of `ferry_static', the limits of `ferry_multipart:read_form/2' and the
%% options of `ferry_req:read_body_to_file/2' (their docs say what each is).
-spec file_defaults(static | multipart | body_to_file) -> map().
file_defaults(static) ->
    #{index => undefined,          % file served for a directory, e.g. <<"index.html">>
      gzip => true,                % serve a `.gz' sibling to clients that accept gzip
      brotli => true,              % serve a `.br' sibling to clients that accept br
      outside_symlinks => false,   % follow symlinks that lead out of `dir'
      headers => [],               % added to every file response (cache-control, ...)
      mime_types => #{}};          % extension (no dot, lowercase) => type, over ferry_mime's
file_defaults(multipart) ->
    #{max_parts => 1000,
      max_header_bytes => 8192,    % of one part's header block
      max_field => 1048576,        % bytes of one field kept in memory
      max_file => infinity,        % bytes of one file part
      max_total => infinity,       % bytes of the whole body (the port's max_body applies too)
      tmp_dir => undefined,        % undefined: $TMPDIR, else /tmp
      read_length => 262144};      % bytes asked of read_body per call
file_defaults(body_to_file) ->
    #{path => tmp,                 % tmp: a new file under the listener's upload_dir
      max => undefined,            % undefined: only the listener's max_body
      digest => none,
      timeout => infinity}.        % the port guards the upload's pace (min_body_rate)
