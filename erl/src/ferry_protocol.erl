%% @doc The wire protocol of docs/PROTOCOL.md: commands to the Rust port as
%% ETF binaries (the port adds the 4-byte length, `{packet, 4}'), and the
%% decoding of its events.
%%
%% Pure. Decoding uses `binary_to_term(B, [safe])', which refuses atoms that
%% do not exist yet; `atoms/0' names every atom the Rust side sends, so they
%% exist as soon as this module is loaded.
-module(ferry_protocol).

-export([decode/1, request_id/1, atoms/0, body_frame_cost/0, length_headers/3]).
-export([listen/1, respond/4, stream_start/3, stream_chunk/2, stream_end/2,
         abort/1, read_body/2, drain/1, stats/0, batch/1]).
-export([send_file/4, body_to_file/3]).
-export([ws_accept/3, ws_send/2, ws_join/2, ws_leave/2, ws_publish/2, ws_publish/3,
         ws_frame/1, ws_fits/2, ws_runs/2]).

-type id() :: non_neg_integer().
-type headers() :: [{binary(), binary()}].
%% A WebSocket frame as ws_send and ws_publish carry it (PROTOCOL.md
%% "Messages out"); ws_frame/1 makes one from what a handler wrote.
-type ws_frame() :: {text | binary | ping | pong, iodata()}
                  | {close, close_code(), iodata()} | close.
-type close_code() :: 1000..1003 | 1007..1014 | 3000..4999.
-export_type([id/0, headers/0, ws_frame/0, close_code/0]).

%% @doc Every atom of docs/PROTOCOL.md that Rust sends to the BEAM.
-spec atoms() -> [atom()].
atoms() ->
    [%% event tags
     ready, listen_error, request, body, body_end, closed, sent, stream_credit,
     stats, log, protocol_error, drained, body_file, publish_credit,
     %% ready map
     ip, port, os_pid, protocol, version, send_window, body_window, max_frame, files,
     %% listen_error kinds
     bad_option, bad_config, eaddrinuse, eacces, eaddrnotavail, io,
     %% request map
     method, path, query, headers, peer, stream, undefined,
     %% closed reasons
     peer_closed, send_timeout, handler_timeout, too_large, bad_body,
     body_timeout, shutdown,
     file_error,
     %% body_file map (path, bytes: above)
     sha256, trailers,
     %% sent map
     status, bytes, duration_us,
     %% stats map
     connections, requests, bytes_in, bytes_out, ignored_commands,
     protocol_errors, out_queue_bytes, accepted, in_flight,
     %% log levels
     debug, info, notice, warning, error,
     true, false,
     %% ready map, request map (`websocket => ok | bad_version | bad_request')
     max_frame, websocket, ok, bad_version, bad_request,
     %% WebSocket events, message opcodes, ws_open map, ws_closed kinds
     ws_open, ws_in, ws_closed, text, binary, ping, pong, deflate, remote,
     %% ready map, request map (`tls => Map'), the answer to `reload_tls'
     tls, 'tlsv1.2', 'tlsv1.3', cipher, alpn, sni, peer_cert, tls_reloaded].

%% @doc What each `{body, Id, Chunk}' costs the `read_body' grant on top of
%% its size (docs/PROTOCOL.md, "Streamed request bodies"): Rust takes
%% `byte_size(Chunk) + body_frame_cost()' off the grant and the reader gives
%% the same back. So the grant bounds messages as well as bytes: a body
%% sent as 1-byte chunks puts at most `body_window / 513' in flight. A
%% WebSocket message costs the same (PROTOCOL.md "WebSocket").
-spec body_frame_cost() -> pos_integer().
body_frame_cost() -> 512.

%% @doc Decodes one frame. A frame that is not a term, or names an atom that
%% does not exist, gives `{error, Frame}' for the caller to log.
%% A `{body, Id, Chunk}' frame is read by hand: its Chunk is then a
%% sub-binary of the frame, where binary_to_term/2 would copy it (in a
%% profile of an upload, that copy was a third of the VM's memmove).
-spec decode(binary()) -> tuple() | atom() | {error, binary()}.
decode(<<131, 104, 3, 119, 4, "body", Rest/binary>> = Frame) ->
    case body_frame(Rest) of
        {Id, Chunk} -> {body, Id, Chunk};
        other -> decode_term(Frame)
    end;
decode(Frame) ->
    decode_term(Frame).

decode_term(Frame) ->
    try binary_to_term(Frame, [safe])
    catch error:badarg -> {error, Frame}
    end.

%% The id and bytes of a body frame as Rust writes it (request_id/1's
%% three encodings of the id, a BINARY_EXT that ends the frame).
body_frame(<<97, Id, 109, Len:32, Chunk:Len/binary>>) ->
    {Id, Chunk};
body_frame(<<98, Id:32/signed, 109, Len:32, Chunk:Len/binary>>) when Id >= 0 ->
    {Id, Chunk};
body_frame(<<110, N, 0, Id:N/little-unit:8, 109, Len:32, Chunk:Len/binary>>) ->
    {Id, Chunk};
body_frame(_) ->
    other.

%% @doc The id of a `{request, Id, Req}' frame, read without decoding Req:
%% the port owner's fast path (the handler process decodes the rest, so
%% that work spreads over schedulers). `undefined' for any other frame, or
%% an encoding this does not know; the caller then decodes it whole.
-spec request_id(binary()) -> id() | undefined.
request_id(<<131, 104, 3, 119, 7, "request", 97, Id, _/binary>>) ->
    Id;
request_id(<<131, 104, 3, 119, 7, "request", 98, Id:32/signed, _/binary>>) when Id >= 0 ->
    Id;
request_id(<<131, 104, 3, 119, 7, "request", 110, N, 0, Id:N/little-unit:8, _/binary>>) ->
    Id;
request_id(_) ->
    undefined.

-spec listen(#{atom() => term()}) -> binary().
listen(Config) -> term_to_binary({listen, Config}).

%% `respond' and `stream_chunk' with a large body are written by hand, the
%% body as a BINARY_EXT whose bytes are the caller's own binaries: the port
%% driver writes the iolist with writev, where term_to_binary/1 would copy
%% the body once more. A small body is cheaper copied into one binary.
-define(COPY_BELOW, 16384).

-spec respond(id(), 100..599, headers(), iodata()) -> iodata().
respond(Id, Status, Headers, Body) ->
    case iolist_size(Body) of
        Small when Small < ?COPY_BELOW ->
            %% One binary, never the handler's iolist as a term: a list
            %% nested deeper than Rust reads (1024) would be refused.
            term_to_binary({respond, Id, Status, Headers, iolist_to_binary(Body)});
        Size ->
            [<<131, 104, 5, 119, 7, "respond">>, ext(Id), ext(Status), ext(Headers),
             <<109, Size:32>>, Body]
    end.

%% @doc The headers of a complete body of `Size' bytes sent as a stream
%% (`stream_start' then chunks): with the `content-length' Rust would have
%% added to a `respond'. The handler's own must be one field of digits equal
%% to `Size' (the rule Rust applies to `respond'); none is added to a 204
%% or 304 (RFC 9110 8.6).
-spec length_headers(headers(), 100..599, non_neg_integer()) ->
          {ok, headers()} | {error, {content_length, [binary()], non_neg_integer()}}.
length_headers(Headers, Status, Size) ->
    case [V || {N, V} <- Headers, is_content_length(N)] of
        [] when Status =:= 204; Status =:= 304 ->
            {ok, Headers};
        [] ->
            {ok, Headers ++ [{<<"content-length">>, integer_to_binary(Size)}]};
        [Value] = Values ->
            case is_digits(Value) andalso binary_to_integer(Value) =:= Size of
                true -> {ok, Headers};
                false -> {error, {content_length, Values, Size}}
            end;
        Values ->
            {error, {content_length, Values, Size}}
    end.

is_content_length(Name) ->
    byte_size(Name) =:= 14 andalso string:lowercase(Name) =:= <<"content-length">>.

is_digits(<<>>) -> false;
is_digits(Bin) -> lists:all(fun(C) -> C >= $0 andalso C =< $9 end, binary_to_list(Bin)).

-spec stream_start(id(), 100..599, headers()) -> binary().
stream_start(Id, Status, Headers) -> term_to_binary({stream_start, Id, Status, Headers}).

-spec stream_chunk(id(), iodata()) -> iodata().
stream_chunk(Id, Data) ->
    case iolist_size(Data) of
        Small when Small < ?COPY_BELOW ->
            %% A binary, not a list: Rust writes a binary to the socket as is.
            term_to_binary({stream_chunk, Id, iolist_to_binary(Data)});
        Size ->
            [<<131, 104, 3, 119, 12, "stream_chunk">>, ext(Id), <<109, Size:32>>, Data]
    end.

%% A term's encoding without the version byte, to go inside a frame.
ext(Term) ->
    <<131, Ext/binary>> = term_to_binary(Term),
    Ext.

-spec stream_end(id(), headers()) -> binary().
stream_end(Id, Trailers) -> term_to_binary({stream_end, Id, Trailers}).

-spec abort(id()) -> binary().
abort(Id) -> term_to_binary({abort, Id}).

-spec read_body(id(), pos_integer()) -> binary().
read_body(Id, Bytes) -> term_to_binary({read_body, Id, Bytes}).

%% @doc A response whose body is `Length' bytes of the file at `Path' from
%% `Offset' (docs/PROTOCOL.md "Files"): Rust sends them, they never cross
%% the pipe.
-spec send_file(id(), 100..599, headers(),
                {binary(), non_neg_integer(), non_neg_integer()}) -> binary().
send_file(Id, Status, Headers, {Path, Offset, Length} = File)
  when is_binary(Path), is_integer(Offset), Offset >= 0, is_integer(Length), Length >= 0 ->
    term_to_binary({send_file, Id, Status, Headers, File}).

%% @doc Instead of `read_body': Rust writes the rest of the request body to
%% `Target' (a path, or `tmp' for a new file under its `upload_dir') and
%% answers `{body_file, Id, Info}'.
-spec body_to_file(id(), binary() | tmp,
                   #{max => non_neg_integer(), digest => sha256 | none}) -> binary().
body_to_file(Id, Target, Opts) -> term_to_binary({body_to_file, Id, Target, Opts}).

-spec drain(non_neg_integer()) -> binary().
drain(TimeoutMs) -> term_to_binary({drain, TimeoutMs}).

%% @doc Several commands as one frame (docs/PROTOCOL.md "Transport"): its
%% payload is the commands' own frames, each with its 4-byte length. The
%% payload starts with a length, not 131, which is how Rust tells it apart;
%% frames are far below the 2 GiB where a length would start with 131.
-spec batch([iodata()]) -> iodata().
batch(Frames) ->
    [[<<(iolist_size(F)):32>>, F] || F <- Frames].

-spec stats() -> binary().
stats() -> term_to_binary(stats).

%%% WebSocket commands (PROTOCOL.md "WebSocket").

-spec ws_accept(id(), headers(), #{protocol => binary(), deflate => boolean(),
                                   control => boolean()}) -> binary().
ws_accept(Id, Headers, Opts) -> term_to_binary({ws_accept, Id, Headers, Opts}).

%% `ws_send' and `ws_publish' are written by hand, as `stream_chunk' is:
%% a large payload goes to the port as the caller's own binaries. A list
%% of ids is always a list (term_to_binary/1 would write ids below 256 as
%% a string).
-spec ws_send(id() | [id()], [ws_frame()]) -> iodata().
ws_send(Target, Frames) ->
    command([<<104, 3>>, atom(ws_send), target(Target), frames(Frames)]).

-spec ws_join(id(), binary()) -> binary().
ws_join(Id, Group) when is_binary(Group) -> term_to_binary({ws_join, Id, Group}).

-spec ws_leave(id(), binary()) -> binary().
ws_leave(Id, Group) when is_binary(Group) -> term_to_binary({ws_leave, Id, Group}).

-spec ws_publish(binary(), [ws_frame()]) -> iodata().
ws_publish(Group, Frames) when is_binary(Group) ->
    command([<<104, 3>>, atom(ws_publish), ext(Group), frames(Frames)]).

%% @doc To every member of `Group' but `ExceptId'.
-spec ws_publish(binary(), [ws_frame()], id()) -> iodata().
ws_publish(Group, Frames, ExceptId) when is_binary(Group), is_integer(ExceptId) ->
    command([<<104, 4>>, atom(ws_publish), ext(Group), frames(Frames), ext(ExceptId)]).

command(Term) ->
    Frame = [131 | Term],
    case iolist_size(Frame) < ?COPY_BELOW of
        true -> iolist_to_binary(Frame);
        false -> Frame
    end.

target(Ids) when is_list(Ids) -> list([id(Id) || Id <- Ids]);
target(Id) -> id(Id).

id(Id) when is_integer(Id), Id >= 0 -> ext(Id).

frames(Frames) -> list([frame(F) || F <- Frames]).

frame({Op, Data}) when Op =:= text; Op =:= binary; Op =:= ping; Op =:= pong ->
    [<<104, 2>>, atom(Op), payload(Data)];
frame({close, Code, Reason}) when is_integer(Code) ->
    [<<104, 3>>, atom(close), ext(Code), payload(Reason)];
frame(close) ->
    atom(close).

list([]) -> <<106>>;
list(Elements) -> [<<108, (length(Elements)):32>>, Elements, <<106>>].

payload(Data) -> [<<109, (iolist_size(Data)):32>>, Data].

atom(Atom) ->
    Name = atom_to_binary(Atom),
    <<119, (byte_size(Name)), Name/binary>>.

%% @doc The frame for a command a handler gives (`ping' alone is an empty
%% ping), with the bytes it counts against the send window (the data of
%% text and binary frames); `error' for what Rust refuses: a payload that
%% is not iodata, a control frame over 125 bytes, a close code not allowed
%% on the wire (RFC 6455 7.4).
-spec ws_frame(term()) -> {ok, ws_frame(), non_neg_integer()} | error.
ws_frame({Op, Data} = Frame) when Op =:= text; Op =:= binary ->
    case size_of(Data) of
        error -> error;
        Size -> {ok, Frame, Size}
    end;
ws_frame(ping) ->
    {ok, {ping, <<>>}, 0};
ws_frame({Op, Data} = Frame) when Op =:= ping; Op =:= pong ->
    control(Frame, size_of(Data), 125);
ws_frame(close) ->
    {ok, close, 0};
ws_frame({close, Code, Reason} = Frame) when is_integer(Code) ->
    case close_code(Code) of
        true -> control(Frame, size_of(Reason), 123);
        false -> error
    end;
ws_frame(_) ->
    error.

control(Frame, Size, Max) when is_integer(Size), Size =< Max -> {ok, Frame, 0};
control(_Frame, _Size, _Max) -> error.

size_of(Data) when is_binary(Data) -> byte_size(Data);
size_of(Data) when is_list(Data) ->
    try iolist_size(Data) catch error:badarg -> error end;
size_of(_) -> error.

%% The codes an endpoint may send (RFC 6455 7.4.1, and the IANA registry's
%% 1012-1014); 1004-1006 and 1015 name conditions, never a close frame.
close_code(Code) ->
    (Code >= 1000 andalso Code =< 1003) orelse (Code >= 1007 andalso Code =< 1014)
        orelse (Code >= 3000 andalso Code =< 4999).

%% Room in a frame to the port for all but the WebSocket frames of a
%% command: its tag, id or group, list heads, and a batch's read_body.
-define(WS_ENVELOPE, 512).

%% @doc Does the frame fit in a command under the port's `max_frame'
%% (which Rust never reads past: it would exit)?
-spec ws_fits(ws_frame(), pos_integer() | infinity) -> boolean().
ws_fits(_Frame, infinity) -> true;
ws_fits(Frame, MaxFrame) -> frame_bytes(Frame) + ?WS_ENVELOPE =< MaxFrame.

%% @doc The frames, in order, in runs that each fit one command under the
%% port's `max_frame': one run unless they are very large together. A
%% frame too large alone raises `{frame_too_large, Bytes, MaxFrame}'.
-spec ws_runs([ws_frame()], pos_integer() | infinity) -> [[ws_frame(), ...]].
ws_runs([], _MaxFrame) -> [];
ws_runs(Frames, infinity) -> [Frames];
ws_runs(Frames, MaxFrame) -> runs(Frames, MaxFrame - ?WS_ENVELOPE, [], 0, []).

runs([], _Room, Run, _Bytes, Runs) ->
    lists:reverse(Runs, [lists:reverse(Run) || Run =/= []]);
runs([Frame | Rest] = Frames, Room, Run, Bytes, Runs) ->
    Size = frame_bytes(Frame),
    if
        Size > Room -> error({frame_too_large, Size, Room + ?WS_ENVELOPE});
        Bytes + Size > Room -> runs(Frames, Room, [], 0, [lists:reverse(Run) | Runs]);
        true -> runs(Rest, Room, [Frame | Run], Bytes + Size, Runs)
    end.

%% An upper bound of a frame's bytes in a command.
frame_bytes({_, Data}) -> iolist_size(Data) + 16;
frame_bytes({close, _, Reason}) -> iolist_size(Reason) + 16;
frame_bytes(close) -> 16.
