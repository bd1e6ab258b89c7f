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

%% Pure.
-export([header/2, header/3, parse_qs/1, parse_cookies/1, binding/2, binding/3,
         path_info/1, encode_headers/1, sse_event/1, websocket/1]).
%% Talk to the port.
-export([read_body/1, read_body/2, read_full_body/2, body_trailers/1,
         reply/4, stream_reply/3, stream_body/3, stream_trailers/2,
         sse_start/1, send_event/2, response_state/0]).
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
%% `+' as space. A key without `=' has the value `true'. Bytes that are not
%% valid percent-encoding are kept as they are rather than failing.
-spec parse_qs(req() | binary()) -> [{binary(), binary() | true}].
parse_qs(#{query := Query}) -> parse_qs(Query);
parse_qs(Query) when is_binary(Query) ->
    [qs_pair(P) || P <- binary:split(Query, <<"&">>, [global]), P =/= <<>>].

qs_pair(Pair) ->
    case binary:split(Pair, <<"=">>) of
        [Key] -> {qs_decode(Key), true};
        [Key, Value] -> {qs_decode(Key), qs_decode(Value)}
    end.

qs_decode(Bin) ->
    Spaced = binary:replace(Bin, <<"+">>, <<" ">>, [global]),
    case ferry_router:pct_decode(Spaced) of
        {ok, Decoded} -> Decoded;
        error -> Spaced
    end.

%% @doc The request's cookies (RFC 6265 5.4: `name=value' pairs joined by
%% "; ", in every `cookie' field), in order. Values are not decoded; a pair
%% without `=' is skipped, as browsers do.
-spec parse_cookies(req()) -> [{binary(), binary()}].
parse_cookies(#{headers := Headers}) ->
    [{string:trim(Name), string:trim(Value)}
     || {<<"cookie">>, Field} <- Headers,
        Pair <- binary:split(Field, <<";">>, [global]),
        [Name, Value] <- [binary:split(Pair, <<"=">>)],
        string:trim(Name) =/= <<>>].

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

is_field_value(Value) ->
    binary:match(Value, [<<"\r">>, <<"\n">>, <<0>>]) =:= nomatch.

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
    {ok, Body, Req};
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
            collect_body(Ctx, Length, Timeout, <<>>, Req);
        {reading, _, _} ->
            collect_body(Ctx, Length, Timeout, <<>>, Req)
    end.

%% Chunks are appended to one binary as they come (in place, the runtime's
%% append optimisation), not kept as a list: a body sent in 1-byte chunks
%% would make such a list some 40 times the size of its data.
collect_body(#ferry_ctx{id = Id} = Ctx, Length, Timeout, Acc, Req) ->
    receive
        {body, Id, Chunk} ->
            %% What the frame cost the grant, given back: data and overhead.
            regrant(Ctx, byte_size(Chunk) + ferry_protocol:body_frame_cost()),
            Data = <<Acc/binary, Chunk/binary>>,
            case byte_size(Data) >= Length of
                true -> {more, Data, Req};
                false -> collect_body(Ctx, Length, Timeout, Data, Req)
            end;
        {body_end, Id, Trailers} ->
            put(?BODY, done),
            put(?TRAILERS, Trailers),
            {ok, Acc, Req};
        {closed, Id, Reason} ->
            exit({ferry, closed, Reason})
    after Timeout ->
            exit({ferry, timeout, read_body})
    end.

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
    respond(Ctx, Req, Status, encode_headers(Headers), Body, iolist_size(Body)),
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
    send_frame(Ctx, ferry_protocol:respond(Id, Status, Headers, Body));
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
    start_stream(Ctx, Status, encode_headers(Headers)),
    Req.

start_stream(#ferry_ctx{id = Id, owner = Owner} = Ctx, Status, Headers) ->
    send_frame(Ctx, ferry_protocol:stream_start(Id, Status, Headers)),
    Owner ! {ferry_streaming, Id, self()},
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
%% and ferry_port is already cleaning up.
send(Port, Frame) ->
    try erlang:port_command(Port, Frame)
    catch error:badarg -> exit({ferry, closed, port_down})
    end.
