%% @doc Helpers for handlers, after Cowboy's `cowboy_req'.
%%
%% The first group is pure and works on the request map. The second talks to
%% the port and must be called from the handler process (the one ferry
%% spawned for the request): flow-control state lives in its process
%% dictionary, so a stale `Req' passed twice cannot break the accounting.
%% When the client went away, those helpers exit with
%% `{ferry, closed, Reason}'; ferry ends the handler quietly then.
-module(ferry_req).

-include("ferry_ctx.hrl").
-include_lib("kernel/include/file.hrl").

%% Pure.
-export([header/2, header/3, parse_qs/1, parse_cookies/1, binding/2, binding/3,
         path_info/1, encode_headers/1, sse_event/1, websocket/1]).
-export([scheme/1, tls/1]).
%% Pure, after Cowboy's: cookies to send, query strings checked.
-export([set_resp_cookie/4, match_qs/2]).
%% Talk to the port.
-export([read_body/1, read_body/2, read_full_body/2, body_trailers/1,
         reply/4, stream_reply/3, stream_body/3, stream_trailers/2,
         sse_start/1, send_event/2, response_state/0]).
%% Files: the bytes go between the socket and a file in Rust.
-export([send_file/4, read_body_to_file/2]).
%% For ferry_handler.
-export([respond/6]).

-type req() :: #{method := binary(), path := binary(), query := binary(),
                 version := {1, 0} | {1, 1}, headers := [{binary(), binary()}],
                 peer := {inet:ip_address(), inet:port_number()},
                 body := binary() | stream,
                 bindings := #{binary() => binary()},
                 path_info := [binary()] | undefined,
                 _ => _}.
-type headers() :: [{binary() | atom() | string(), iodata() | integer()}]
                 | #{binary() | atom() | string() => iodata() | integer()}.
-type event() :: #{data => iodata(), event => iodata(), id => iodata(),
                   retry => non_neg_integer()} | iodata().
-export_type([req/0, headers/0, event/0]).

-define(IS_STATUS(S), (is_integer(S) andalso S >= 100 andalso S =< 599)).

%% Process dictionary keys of the handler process.
-define(RESP, '$ferry_resp').       % undefined | {streaming, Outstanding} | done
-define(BODY, '$ferry_body').       % undefined | {reading, Pending, Batch} | done
-define(TRAILERS, '$ferry_trailers').

%%% Pure helpers.

%% @doc The value of request header `Name' (lowercase); repeated fields are
%% joined with ", " (RFC 9110 5.3).
-spec header(binary(), req()) -> binary() | undefined.
header(Name, Req) -> header(Name, Req, undefined).

-spec header(binary(), req(), Default) -> binary() | Default.
header(Name, #{headers := Headers}, Default) ->
    case [V || {N, V} <- Headers, N =:= Name] of
        [] -> Default;
        [Value] -> Value;
        Values -> iolist_to_binary(lists:join(<<", ">>, Values))
    end.

%% @doc The query string as `[{Key, Value | true}]', percent-decoded with
%% `+' as space; a key without `=' has the value `true' (the rules of
%% `ferry_qs'). A query string that breaks them (a `%' not followed by two
%% hex digits, bytes that do not decode to UTF-8) raises
%% `error({ferry, bad_request, {query, Why}})': the client gets 400.
-spec parse_qs(req() | binary()) -> [{binary(), binary() | true}].
parse_qs(#{query := Query}) -> parse_qs(Query);
parse_qs(Query) when is_binary(Query) ->
    case ferry_qs:parse(Query) of
        {ok, Pairs} -> Pairs;
        {error, Why} -> error({ferry, bad_request, {query, Why}})
    end.

%% @doc Cowboy's `match_qs/2': the query parameters named in `Fields' as a
%% map, checked (`ferry_qs:match/2' says how). A missing or bad parameter
%% raises `error({ferry, bad_request, {match_qs, Errors}})': the client
%% gets 400 naming them.
%%
%% ```
%% #{id := Id, lang := Lang} =
%%     ferry_req:match_qs([{id, int}, {lang, nonempty, <<"en">>}], Req)
%% '''
-spec match_qs([ferry_qs:field()], req()) -> #{atom() => term()}.
match_qs(Fields, Req) ->
    case ferry_qs:match(Fields, parse_qs(Req)) of
        {ok, Map} -> Map;
        {error, Errors} -> error({ferry, bad_request, {match_qs, Errors}})
    end.

%% @doc The request's cookies (RFC 6265 5.4: `name=value' pairs joined by
%% "; ", in every `cookie' field), in order. Values are not decoded; a
%% malformed pair is skipped, as browsers do (`ferry_cookie:parse/1').
-spec parse_cookies(req()) -> [{binary(), binary()}].
parse_cookies(#{headers := Headers}) ->
    [Pair || {<<"cookie">>, Field} <- Headers, Pair <- ferry_cookie:parse(Field)].

%% @doc Cowboy's `set_resp_cookie/4': a `set-cookie' header that the next
%% `reply/4' or `stream_reply/3' (or `sse_start/1') of this `Req' sends; a
%% later one of the same `Name' replaces it. `Opts' as in
%% `ferry_cookie:setcookie/3' (`max_age', `path', `domain', `secure',
%% `http_only', `same_site', with `path => <<"/">>' and `http_only =>
%% true' unless said otherwise). A handler returning `{Status, Headers,
%% Body}' puts `{<<"set-cookie">>, ferry_cookie:setcookie(N, V, Opts)}' in
%% `Headers' instead. Delete a cookie with `#{max_age => 0}'.
-spec set_resp_cookie(iodata(), iodata(), ferry_cookie:opts(), req()) -> req().
set_resp_cookie(Name, Value, Opts, Req) ->
    Field = ferry_cookie:setcookie(Name, Value, Opts),
    Cookies = maps:get(resp_cookies, Req, #{}),
    Req#{resp_cookies => Cookies#{iolist_to_binary(Name) => Field}}.

%% The headers of a response, then the cookies set on `Req'.
with_cookies(Headers, #{resp_cookies := Cookies}) ->
    encode_headers(Headers)
        ++ [{<<"set-cookie">>, Field} || {_, Field} <- lists:sort(maps:to_list(Cookies))];
with_cookies(Headers, _Req) ->
    encode_headers(Headers).

-spec binding(binary() | atom(), req()) -> binary() | undefined.
binding(Name, Req) -> binding(Name, Req, undefined).

-spec binding(binary() | atom(), req(), Default) -> binary() | Default.
binding(Name, Req, Default) when is_atom(Name) ->
    binding(atom_to_binary(Name), Req, Default);
binding(Name, #{bindings := Bindings}, Default) ->
    maps:get(Name, Bindings, Default).

-spec path_info(req()) -> [binary()] | undefined.
path_info(#{path_info := PathInfo}) -> PathInfo.

%% @doc Is this a WebSocket opening handshake (PROTOCOL.md "Upgrade")?
%% `ok' a valid one, `bad_version' one of another version than 13,
%% `bad_request' a broken one, `false' no `upgrade: websocket' at all.
-spec websocket(req()) -> ok | bad_version | bad_request | false.
websocket(Req) -> maps:get(websocket, Req, false).

%% @doc `https' for a request that came over TLS (the listener's `tls'
%% option), else `http'.
-spec scheme(req()) -> http | https.
scheme(#{tls := _}) -> https;
scheme(_) -> http.

%% @doc What TLS negotiated for the request's connection (version, cipher,
%% ALPN, SNI name, the client's certificate as DER when one was verified),
%% or `undefined' over plain TCP. See ferry_tls.
-spec tls(req()) -> ferry_tls:info() | undefined.
tls(Req) -> ferry_tls:info(Req).

%% @doc Response headers as the port wants them: `[{binary(), binary()}]'.
%% Raises `badarg' on a name or value that is not text, and
%% `{ferry, bad_response, {header, Name, Value}}' on a name that is not a
%% token or a value with CR, LF or NUL (RFC 9110 5.1, 5.5): the port would
%% refuse the response, so it is refused here, before anything is sent,
%% where the report can name the handler and the request.
-spec encode_headers(headers()) -> ferry_protocol:headers().
encode_headers(Headers) when is_map(Headers) ->
    encode_headers(maps:to_list(Headers));
encode_headers(Headers) when is_list(Headers) ->
    lists:map(fun({N, V}) -> valid_header(header_name(N), header_value(V)) end, Headers).

valid_header(Name, Value) ->
    case Name =/= <<>> andalso is_token(Name) andalso is_field_value(Value) of
        true -> {Name, Value};
        false -> error({ferry, bad_response, {header, Name, Value}})
    end.

is_token(<<C, Rest/binary>>) when C >= $a, C =< $z; C >= $A, C =< $Z; C >= $0, C =< $9;
                                  C =:= $-; C =:= $_ ->
    is_token(Rest);
is_token(<<C, Rest/binary>>) ->
    lists:member(C, "!#$%&'*+.^`|~") andalso is_token(Rest);
is_token(<<>>) ->
    true.

%% No CR, LF or NUL. Most values are short, and a byte loop checks one of
%% 40 bytes in 0.17 us where binary:match/2, which compiles its patterns
%% on every call, takes 1.1 us; it is the faster one past about 1 KB.
is_field_value(Value) when byte_size(Value) < 1024 ->
    no_cr_lf_nul(Value);
is_field_value(Value) ->
    binary:match(Value, [<<"\r">>, <<"\n">>, <<0>>]) =:= nomatch.

no_cr_lf_nul(<<C, _/binary>>) when C =:= $\r; C =:= $\n; C =:= 0 -> false;
no_cr_lf_nul(<<_, Rest/binary>>) -> no_cr_lf_nul(Rest);
no_cr_lf_nul(<<>>) -> true.

header_name(N) when is_binary(N) -> N;
header_name(N) when is_atom(N) -> atom_to_binary(N);
header_name(N) when is_list(N) -> iolist_to_binary(N).

header_value(V) when is_binary(V) -> V;
header_value(V) when is_integer(V) -> integer_to_binary(V);
header_value(V) when is_list(V) -> iolist_to_binary(V).

%% @doc One server-sent event as text/event-stream bytes. Multi-line data
%% becomes several `data:' lines; `event' and `id' may not span lines.
-spec sse_event(event()) -> iodata().
sse_event(Event) when is_map(Event) ->
    Fields = [single_line_field(<<"event">>, maps:get(event, Event, undefined)),
              single_line_field(<<"id">>, maps:get(id, Event, undefined)),
              case maps:get(retry, Event, undefined) of
                  undefined -> [];
                  Ms when is_integer(Ms), Ms >= 0 -> [<<"retry: ">>, integer_to_binary(Ms), $\n]
              end,
              data_lines(maps:get(data, Event, <<>>))],
    [Fields, $\n];
sse_event(Data) ->
    sse_event(#{data => Data}).

single_line_field(_Name, undefined) -> [];
single_line_field(Name, Value) ->
    Bin = iolist_to_binary(Value),
    nomatch = binary:match(Bin, [<<"\r">>, <<"\n">>]),
    [Name, <<": ">>, Bin, $\n].

data_lines(Data) ->
    Lines = binary:split(iolist_to_binary(Data), [<<"\r\n">>, <<"\n">>, <<"\r">>], [global]),
    [[<<"data: ">>, L, $\n] || L <- Lines].

%%% Helpers that talk to the port.

%% @doc Reads the request body. An inline body is returned at once. A
%% streamed body is returned `length' bytes (or more, at most one chunk
%% more) at a time: `{more, Data, Req}' until the last part `{ok, Data, Req}'.
%% Once the body was read to its end, more reads give `{ok, <<>>, Req}',
%% inline or streamed alike (Plug's rule; the inline body stays in `Req').
%% The first call grants the port `length' bytes, or the listener's
%% `body_window' if larger, ahead and every chunk received is granted again,
%% so the pipe stays full while the handler works and at most that many
%% bytes wait in this process's mailbox. Each chunk costs the grant its size
%% plus `ferry_protocol:body_frame_cost()', so a body sent in tiny chunks
%% cannot fill the mailbox with tiny messages either.
%% `timeout' is how long to wait for the next bytes.
-spec read_body(req()) -> {ok | more, binary(), req()}.
read_body(Req) -> read_body(Req, #{}).

-spec read_body(req(), #{length => pos_integer(), timeout => timeout()}) ->
          {ok | more, binary(), req()}.
read_body(#{body := Body} = Req, _Opts) when is_binary(Body) ->
    case get(?BODY) of
        done ->
            {ok, <<>>, Req};
        undefined ->
            put(?BODY, done),
            {ok, Body, Req}
    end;
read_body(#{body := stream, ?FERRY_CTX := Ctx} = Req, Opts) ->
    Length = maps:get(length, Opts, ferry_opts:req_default(read_length)),
    Timeout = maps:get(timeout, Opts, ferry_opts:req_default(read_timeout)),
    %% Reading is progress: request_timeout restarts (a long upload is
    %% not a stuck handler).
    Ctx#ferry_ctx.owner ! {ferry_progress, Ctx#ferry_ctx.id, self()},
    case get(?BODY) of
        done ->
            {ok, <<>>, Req};
        undefined ->
            %% A whole body window ahead (more than that Rust would not
            %% send), or `length' if the caller wants more per call.
            Ahead = max(Length, Ctx#ferry_ctx.body_window),
            grant(Ctx, Ahead),
            %% Bytes received are granted again in batches of a quarter of
            %% what Rust lets be in flight: it never has less than three
            %% quarters in flight, with a quarter of the grant commands.
            put(?BODY, {reading, 0, max(1, min(Ahead, Ctx#ferry_ctx.body_window) div 4)}),
            collect_body(Ctx, Length, Timeout, [], 0, Req);
        {reading, _, _} ->
            collect_body(Ctx, Length, Timeout, [], 0, Req)
    end.

%% Chunks are kept as they came (parts of the port's frames) and joined
%% once, when the call returns: one copy of each byte, into a binary of the
%% exact size, and none when one chunk is the whole answer. Appending each
%% to a growing binary re-allocated it as it grew (in a profile of an
%% upload, page faults and memmove were half the VM's time). Small chunks
%% are appended to the newest small piece (in place, the runtime's append
%% optimisation), so a body sent in 1-byte chunks costs no list cell per
%% chunk: such a list would be some 40 times the size of its data.
collect_body(#ferry_ctx{id = Id} = Ctx, Length, Timeout, Pieces, Size, Req) ->
    receive
        {body, Id, Chunk} ->
            %% What the frame cost the grant, given back: data and overhead.
            regrant(Ctx, byte_size(Chunk) + ferry_protocol:body_frame_cost()),
            ferry_lifecycle:body_in(byte_size(Chunk)),
            More = add_piece(Chunk, Pieces),
            case Size + byte_size(Chunk) of
                Total when Total >= Length -> {more, join(More), Req};
                Total -> collect_body(Ctx, Length, Timeout, More, Total, Req)
            end;
        {body_end, Id, Trailers} ->
            put(?BODY, done),
            put(?TRAILERS, Trailers),
            {ok, join(Pieces), Req};
        {closed, Id, Reason} ->
            exit({ferry, closed, Reason})
    after Timeout ->
            exit({ferry, timeout, read_body})
    end.

-define(SMALL_PIECE, 65536).

add_piece(Chunk, [Last | Rest]) when byte_size(Chunk) < ?SMALL_PIECE,
                                     byte_size(Last) < ?SMALL_PIECE ->
    [<<Last/binary, Chunk/binary>> | Rest];
add_piece(Chunk, Pieces) ->
    [Chunk | Pieces].

%% Pieces, newest first, as one binary.
join([]) -> <<>>;
join([One]) -> One;
join(Pieces) -> iolist_to_binary(lists:reverse(Pieces)).

regrant(Ctx, Received) ->
    {reading, Pending, Batch} = get(?BODY),
    case Pending + Received of
        Due when Due >= Batch ->
            grant(Ctx, Due),
            put(?BODY, {reading, 0, Batch});
        NotYet ->
            put(?BODY, {reading, NotYet, Batch})
    end.

grant(#ferry_ctx{port = Port, id = Id}, Bytes) ->
    send(Port, ferry_protocol:read_body(Id, Bytes)).

%% @doc The whole body, refused past `MaxBytes' (what was read is dropped).
-spec read_full_body(req(), non_neg_integer()) -> {ok, binary(), req()} | {error, too_large}.
read_full_body(Req, MaxBytes) ->
    read_full_body(Req, MaxBytes, [], 0).

read_full_body(Req0, MaxBytes, Acc, Size) ->
    {Status, Data, Req} = read_body(Req0),
    NewSize = Size + byte_size(Data),
    if
        NewSize > MaxBytes -> {error, too_large};
        Status =:= ok -> {ok, iolist_to_binary([Acc, Data]), Req};
        true -> read_full_body(Req, MaxBytes, [Acc, Data], NewSize)
    end.

%% @doc The trailers of a streamed body once it was read to its end.
-spec body_trailers(req()) -> ferry_protocol:headers().
body_trailers(_Req) ->
    case get(?TRAILERS) of
        undefined -> [];
        Trailers -> Trailers
    end.

%% @doc Answers in one go. The handler then returns `{done, Req}'.
%% A body larger than the send window goes out as a stream under credit
%% (see respond/6): this call then blocks while the client reads.
%% A 1xx status (103 Early Hints) sends an informational head only (its
%% body is ignored; nothing to an HTTP/1.0 client, RFC 9110 15.2): the
%% handler answers again with the final response.
-spec reply(100..599, headers(), iodata(), req()) -> req().
reply(Status, _Headers, _Body, _Req) when not ?IS_STATUS(Status) ->
    error({ferry, bad_response, {status, Status}});
reply(Status, Headers, _Body, #{?FERRY_CTX := Ctx, version := Version} = Req)
  when Status < 200 ->
    not_replied_yet(),
    Version =:= {1, 0} orelse
        send_frame(Ctx, ferry_protocol:respond(Ctx#ferry_ctx.id, Status, encode_headers(Headers),
                                               <<>>)),
    Req;
reply(Status, Headers, Body, #{?FERRY_CTX := Ctx} = Req) ->
    not_replied_yet(),
    respond(Ctx, Req, Status, with_cookies(Headers, Req), Body, iolist_size(Body)),
    put(?RESP, done),
    Req.

%% @private The one way a complete response goes out: reply/4 and the
%% `{Status, Headers, Body}' a handler returns (ferry_handler). `Size' is
%% `iolist_size(Body)'. A body up to the send window goes whole in one
%% `respond'. A larger one goes as a stream with its `content-length'
%% (docs/PROTOCOL.md "Responses"), so Rust never holds more than a window
%% of it for a slow client and no frame is over max_frame; a HEAD (or a 204
%% or 304) response has no body on the wire, so only its head is sent.
%% Raises `{ferry, bad_response, Why}' for a response that cannot be sent
%% (a frame over max_frame; a content-length that disagrees with the body).
-spec respond(#ferry_ctx{}, req(), 200..599, ferry_protocol:headers(), iodata(),
              non_neg_integer()) -> ok.
respond(#ferry_ctx{whole_max = Max, id = Id} = Ctx, _Req, Status, Headers, Body, Size)
  when Size =< Max ->
    send_frame(Ctx, ferry_protocol:respond(Id, Status, Headers, Body)),
    ferry_lifecycle:responded(Status, Size);
respond(Ctx, #{method := Method}, Status, Headers0, Body, Size) ->
    Headers = case ferry_protocol:length_headers(Headers0, Status, Size) of
                  {ok, WithLength} -> WithLength;
                  {error, Why} -> error({ferry, bad_response, Why})
              end,
    start_stream(Ctx, Status, Headers),
    case Method =:= <<"HEAD">> orelse Status =:= 204 orelse Status =:= 304 of
        true -> end_stream(Ctx, []);
        false -> send_body(Ctx, Body, fin, ferry_opts:req_default(send_timeout))
    end.

%% @doc Starts a streamed response. From now on the request deadline
%% (`request_timeout') no longer applies: a stream may live long (SSE).
-spec stream_reply(100..599, headers(), req()) -> req().
stream_reply(Status, _Headers, _Req) when not ?IS_STATUS(Status) ->
    error({ferry, bad_response, {status, Status}});
stream_reply(Status, Headers, #{?FERRY_CTX := Ctx} = Req) ->
    not_replied_yet(),
    start_stream(Ctx, Status, with_cookies(Headers, Req)),
    Req.

start_stream(#ferry_ctx{id = Id, owner = Owner} = Ctx, Status, Headers) ->
    send_frame(Ctx, ferry_protocol:stream_start(Id, Status, Headers)),
    ferry_lifecycle:responded(Status, 0),
    Owner ! {ferry_streaming, Id, self()},
    ferry_handler:lasting(),
    put(?RESP, {streaming, 0}).

%% @doc Sends part of a streamed response; `fin' ends it. Blocks while the
%% port holds `send_window' bytes the client has not taken yet, and exits
%% with `{ferry, timeout, stream_body}' if no credit comes in time.
-spec stream_body(iodata(), fin | nofin, req()) -> req().
stream_body(Data, IsFin, #{?FERRY_CTX := Ctx} = Req) ->
    {streaming, _} = streaming(),
    send_body(Ctx, Data, IsFin, ferry_opts:req_default(send_timeout)),
    Req.

send_body(#ferry_ctx{id = Id} = Ctx, Data, IsFin, Timeout) ->
    {streaming, Outstanding} = get(?RESP),
    %% With `fin', the last piece and the end go in one port_command.
    Last = case IsFin of
               nofin -> [];
               fin -> [ferry_protocol:stream_end(Id, [])]
           end,
    %% An iovec, not one binary: a large body made of large binaries is
    %% sent as slices of them, never copied whole.
    Left = send_chunks(Ctx, erlang:iolist_to_iovec(Data), Outstanding, Timeout, Last),
    case IsFin of
        nofin -> put(?RESP, {streaming, Left});
        fin -> put(?RESP, done)
    end,
    ok.

%% Pieces of half a window, so one piece travels while Rust returns credit
%% for the other. `Last' frames ride with the last piece.
send_chunks(#ferry_ctx{port = Port}, [], Outstanding, _Timeout, Last) ->
    Last =:= [] orelse send_batch(Port, Last),
    Outstanding;
send_chunks(#ferry_ctx{whole_max = Max, port = Port, id = Id} = Ctx, Iovec, Outstanding,
            Timeout, Last) ->
    {Chunk, Size, Rest} = take(Iovec, max(1, Max div 2)),
    Waited = wait_credit(Ctx, Outstanding, Size, Timeout),
    Frame = ferry_protocol:stream_chunk(Id, Chunk),
    ferry_lifecycle:body_out(Size),
    case Rest of
        [] ->
            send_batch(Port, [Frame | Last]),
            Waited + Size;
        _ ->
            send(Port, Frame),
            send_chunks(Ctx, Rest, Waited + Size, Timeout, Last)
    end.

%% The first (at most) N bytes of an iovec, as iodata, their size, and the
%% rest of the iovec.
take(Iovec, N) ->
    take(Iovec, N, [], 0).

take([], _N, Acc, Size) ->
    {iodata(Acc), Size, []};
take([Bin | Rest], N, Acc, Size) when Size + byte_size(Bin) =< N ->
    case Size + byte_size(Bin) of
        N -> {iodata([Bin | Acc]), N, Rest};
        More -> take(Rest, N, [Bin | Acc], More)
    end;
take([Bin | Rest], N, Acc, Size) ->
    Room = N - Size,
    <<Head:Room/binary, Tail/binary>> = Bin,
    {iodata([Head | Acc]), N, [Tail | Rest]}.

%% Binaries taken, last first, as iodata: one binary as itself.
iodata([Bin]) -> Bin;
iodata(Reversed) -> lists:reverse(Reversed).

wait_credit(#ferry_ctx{send_window = Window}, Outstanding, Size, _Timeout)
  when Outstanding + Size =< Window ->
    Outstanding;
wait_credit(#ferry_ctx{id = Id} = Ctx, Outstanding, Size, Timeout) ->
    receive
        {stream_credit, Id, Credit} ->
            wait_credit(Ctx, max(0, Outstanding - Credit), Size, Timeout);
        {closed, Id, Reason} ->
            exit({ferry, closed, Reason})
    after Timeout ->
            exit({ferry, timeout, stream_body})
    end.

%% @doc Ends a streamed response with trailers.
-spec stream_trailers(ferry_protocol:headers() | headers(), req()) -> req().
stream_trailers(Trailers, #{?FERRY_CTX := Ctx} = Req) ->
    {streaming, _} = streaming(),
    end_stream(Ctx, encode_headers(Trailers)),
    Req.

end_stream(#ferry_ctx{id = Id} = Ctx, Trailers) ->
    send_frame(Ctx, ferry_protocol:stream_end(Id, Trailers)),
    put(?RESP, done).

%% @doc Starts a text/event-stream response (server-sent events).
-spec sse_start(req()) -> req().
sse_start(Req) ->
    stream_reply(200, [{<<"content-type">>, <<"text/event-stream">>},
                       {<<"cache-control">>, <<"no-cache">>}], Req).

%% @doc Sends one event on a stream started by `sse_start/1'.
-spec send_event(event(), req()) -> req().
send_event(Event, Req) ->
    stream_body(sse_event(Event), nofin, Req).

%% @doc What this handler process has answered so far (used by ferry_handler).
-spec response_state() -> none | streaming | done.
response_state() ->
    case get(?RESP) of
        undefined -> none;
        {streaming, _} -> streaming;
        done -> done
    end.

not_replied_yet() ->
    case get(?RESP) of
        undefined -> ok;
        _ -> error({ferry, already_replied})
    end.

streaming() ->
    case get(?RESP) of
        {streaming, _} = S -> S;
        _ -> error({ferry, not_streaming})
    end.

%% Several commands in one port_command: one write, one wake-up of Rust
%% (a batch frame, docs/PROTOCOL.md "Transport").
send_batch(Port, [Frame]) ->
    send(Port, Frame);
send_batch(Port, Frames) ->
    send(Port, ferry_protocol:batch(Frames)).

%% A frame whose size the caller does not bound (headers, trailers, a whole
%% body): over max_frame the port would exit, and take every connection of
%% the listener with it, so it is refused here.
send_frame(#ferry_ctx{port = Port, max_frame = Max}, Frame) ->
    case iolist_size(Frame) of
        Size when Size =< Max -> send(Port, Frame);
        Size -> error({ferry, bad_response, {frame_too_large, Size, Max}})
    end.

%% The port is gone (its Rust process died): this request is lost with it,
%% and ferry_port is already cleaning up. A handler on another node than the
%% port's (ferry_remote) sends through the port owner.
send(Port, Frame) when node(Port) =/= node() ->
    ferry_remote:command(Port, Frame);
send(Port, Frame) ->
    try erlang:port_command(Port, Frame)
    catch error:badarg -> exit({ferry, closed, port_down})
    end.

%%% Files (docs/PROTOCOL.md "Files"): Rust moves the bytes between the
%%% socket and the file; the BEAM only decides.

%% @doc Answers with the file at `Path' (all of it), or `Length' bytes of
%% it from `Offset' (`Length' may be `all': to the end). Rust sends the
%% bytes with sendfile(2); they never cross the pipe, and the handler does
%% not wait for them. A whole file (or `all') is stat-ed here: a file that
%% is missing, not a regular file, or shorter than `Offset' raises
%% `error({ferry, send_file, {Path, Reason}})' (`enoent', `eisdir',
%% `einval', ...) in the caller, who can still answer. With an explicit
%% `Length' the caller vouches for it; if the file cannot be opened or is
%% short when Rust sends it, Rust answers 500 (or closes the connection)
%% and logs it, and the handler is not told.
%% A `content-length' of the handler's must equal the length sent; HEAD,
%% 204 and 304 get only the head.
-spec send_file(200..599, headers(),
                file:name_all() | {file:name_all(), non_neg_integer(), non_neg_integer() | all},
                req()) -> req().
send_file(Status, Headers, {Path0, Offset, Length0}, #{?FERRY_CTX := Ctx} = Req)
  when is_integer(Status), Status >= 200, Status =< 599, is_integer(Offset), Offset >= 0,
       (is_integer(Length0) andalso Length0 >= 0) orelse Length0 =:= all ->
    not_replied_yet(),
    Path = file_path(Path0),
    Length = case Length0 of
                 all -> file_size(Path0, Path) - Offset;
                 _ -> Length0
             end,
    Length >= 0 orelse error({ferry, send_file, {Path0, einval}}),
    Encoded = case ferry_protocol:length_headers(encode_headers(Headers), Status, Length) of
                  {ok, WithLength} -> WithLength;
                  {error, Why} -> error({ferry, bad_response, Why})
              end,
    send_frame(Ctx, ferry_protocol:send_file(Ctx#ferry_ctx.id, Status, Encoded,
                                             {Path, Offset, Length})),
    ferry_lifecycle:responded(Status, Length),
    put(?RESP, done),
    Req;
send_file(Status, Headers, Path, Req) when is_binary(Path); is_list(Path); is_atom(Path) ->
    send_file(Status, Headers, {Path, 0, all}, Req).

%% Absolute: Rust runs in the VM's working directory today, but the path
%% should not depend on that.
file_path(Path) ->
    case unicode:characters_to_binary(filename:absname(Path)) of
        Bin when is_binary(Bin) ->
            binary:match(Bin, <<0>>) =:= nomatch orelse error({ferry, send_file, {Path, einval}}),
            Bin;
        _ -> error({ferry, send_file, {Path, einval}})
    end.

file_size(Given, Path) ->
    case file:read_file_info(Path, [raw]) of
        {ok, #file_info{type = regular, size = Size}} -> Size;
        {ok, #file_info{type = directory}} -> error({ferry, send_file, {Given, eisdir}});
        {ok, #file_info{}} -> error({ferry, send_file, {Given, einval}});
        {error, Reason} -> error({ferry, send_file, {Given, Reason}})
    end.

%% @doc Writes the request body to a file without it entering the BEAM
%% (Rust writes what it reads from the socket), and returns where, how many
%% bytes, and their SHA-256 if asked. Options (defaults in
%% `ferry_opts:file_defaults(body_to_file)'):
%%
%% <ul>
%% <li>`path' — the file to create or truncate, or `tmp': a new file under
%% the listener's `upload_dir', deleted when the handler process ends
%% unless the handler moves it (or calls `ferry_tmp:keep/1').</li>
%% <li>`max' — refuse a body past this many bytes.</li>
%% <li>`digest' — `sha256' to have the body's SHA-256 (32 bytes), or
%% `none'.</li>
%% <li>`timeout' — ms to wait for the whole body; the port already cuts a
%% client slower than `min_body_rate', and `request_timeout' is paused
%% meanwhile.</li>
%% </ul>
%%
%% A body over `max' (or the listener's `max_body') is answered 413 and a
%% file that cannot be written 500, by Rust, which removes the file; then,
%% as when the client leaves, this exits with `{ferry, closed, Reason}'
%% (`too_large', `file_error', `peer_closed', ...), which ends the handler
%% quietly. It must be called before any `read_body' of a streamed body.
%% A body that came inline (`body' is a binary) is written by the BEAM,
%% a `tmp' one under `ferry_tmp:dir()'.
-spec read_body_to_file(req(), #{path => file:name_all() | tmp, max => non_neg_integer(),
                                 digest => sha256 | none, timeout => timeout()}) ->
          {ok, #{path := binary(), bytes := non_neg_integer(), sha256 := binary() | undefined},
           req()}.
read_body_to_file(#{body := Body} = Req, Opts0) ->
    Opts = maps:merge(ferry_opts:file_defaults(body_to_file), Opts0),
    maps:foreach(fun check_file_opt/2, Opts),
    case Body of
        stream -> stream_to_file(Req, Opts);
        _ -> inline_to_file(Req, Body, Opts)
    end.

check_file_opt(path, tmp) -> ok;
check_file_opt(path, P) when is_binary(P); is_list(P) -> ok;
check_file_opt(max, M) when M =:= undefined; is_integer(M), M >= 0 -> ok;
check_file_opt(digest, D) when D =:= sha256; D =:= none -> ok;
check_file_opt(timeout, T) when T =:= infinity; is_integer(T), T >= 0 -> ok;
check_file_opt(K, _) -> error({bad_option, K}).

stream_to_file(#{?FERRY_CTX := #ferry_ctx{id = Id, owner = Owner} = Ctx} = Req,
               #{path := Path, max := Max, digest := Digest, timeout := Timeout}) ->
    %% Bytes already granted could be on their way here, and the file would
    %% miss them.
    get(?BODY) =:= undefined orelse error({ferry, body_already_read}),
    Target = case Path of
                 tmp -> tmp;
                 _ -> file_path(Path)
             end,
    Cmd = case Max of
              undefined -> #{digest => Digest};
              _ -> #{digest => Digest, max => Max}
          end,
    %% The port guards this wait (min_body_rate, idle_timeout): the
    %% handler's own deadline is paused while the body comes.
    Owner ! {ferry_deadline, Id, self(), pause},
    send(Ctx#ferry_ctx.port, ferry_protocol:body_to_file(Id, Target, Cmd)),
    Info = await_body_file(Id, deadline(Timeout)),
    ferry_lifecycle:body_in(maps:get(bytes, Info)),
    Target =:= tmp andalso ferry_tmp:track(maps:get(path, Info)),
    response_state() =:= none andalso (Owner ! {ferry_deadline, Id, self(), resume}),
    put(?BODY, done),
    put(?TRAILERS, maps:get(trailers, Info, [])),
    {ok, maps:with([path, bytes, sha256], Info#{sha256 => maps:get(sha256, Info, undefined)}),
     Req}.

deadline(infinity) -> infinity;
deadline(Ms) -> erlang:monotonic_time(millisecond) + Ms.

await_body_file(Id, Deadline) ->
    Wait = case Deadline of
               infinity -> infinity;
               _ -> max(0, Deadline - erlang:monotonic_time(millisecond))
           end,
    receive
        {body_file, Id, #{path := _, bytes := _} = Info} -> Info;
        {closed, Id, Reason} -> exit({ferry, closed, Reason})
    after Wait ->
            exit({ferry, timeout, read_body_to_file})
    end.

%% The body is here already: written as Rust would have, and refused the
%% way Rust would have refused it.
inline_to_file(#{?FERRY_CTX := Ctx} = Req, Body, #{path := Path, max := Max, digest := Digest}) ->
    is_integer(Max) andalso byte_size(Body) > Max andalso
        inline_refuse(Ctx, Req, 413, <<"Content Too Large\n">>, too_large),
    case write_inline(Path, Body) of
        {ok, File} ->
            Sha = case Digest of
                      sha256 -> crypto:hash(sha256, Body);
                      none -> undefined
                  end,
            {ok, #{path => File, bytes => byte_size(Body), sha256 => Sha}, Req};
        {error, Reason} ->
            ferry_log:report(error, #{what => body_to_file_failed, path => Path, reason => Reason,
                                      listener => Ctx#ferry_ctx.listener,
                                      id => Ctx#ferry_ctx.id}),
            inline_refuse(Ctx, Req, 500, <<"Internal Server Error\n">>, file_error)
    end.

write_inline(tmp, Body) ->
    write_opened(ferry_tmp:create(ferry_tmp:dir(), <<"ferry-upload-">>), Body);
write_inline(Path, Body) ->
    File = file_path(Path),
    write_opened(case file:open(File, [write, raw, binary]) of
                     {ok, Fd} -> {ok, File, Fd};
                     {error, _} = Error -> Error
                 end, Body).

write_opened({ok, File, Fd}, Body) ->
    Written = file:write(Fd, Body),
    case {Written, file:close(Fd)} of
        {ok, ok} -> {ok, File};
        {ok, Error} -> _ = file:delete(File), Error;
        {Error, _} -> _ = file:delete(File), Error
    end;
write_opened({error, _} = Error, _Body) ->
    Error.

-spec inline_refuse(#ferry_ctx{}, req(), 413 | 500, binary(), atom()) -> no_return().
inline_refuse(Ctx, Req, Status, Body, Reason) ->
    respond(Ctx, Req, Status, [], Body, byte_size(Body)),
    put(?RESP, done),
    exit({ferry, closed, Reason}).
