%% mochiweb (Debian's erlang-mochiweb) answering the benchmark's routes.
%% Started by bench/harness as: erl -noshell -run bench_mochiweb start PORT
%% Tuned like the others: keep-alive (mochiweb's default), connection limit
%% and listen backlog raised, TCP_NODELAY on.
-module(bench_mochiweb).
-export([start/1, loop/1]).

-define(CHUNK, 1048576).

-spec start([string()]) -> no_return().
start([PortStr]) ->
    Port = list_to_integer(PortStr),
    {ok, _} = mochiweb_http:start([{name, ?MODULE}, {ip, {127, 0, 0, 1}},
                                   {port, Port}, {loop, fun ?MODULE:loop/1},
                                   {max, 20000}, {backlog, 4096},
                                   {acceptor_pool_size, 32}, {nodelay, true}]),
    bench_server:ready(Port).

-spec loop(term()) -> term().
loop(Req) ->
    Method = mochiweb_request:get(method, Req),
    Path = mochiweb_request:get(path, Req),
    route(Method, Path, Req).

route('GET', "/", Req) ->
    mochiweb_request:ok({"text/plain", <<"Hello, world!">>}, Req);
route('POST', "/upload", Req) ->
    Count = fun({0, _Footers}, N) -> N;
               ({_Len, Bin}, N) -> N + byte_size(Bin) end,
    Total = mochiweb_request:stream_body(?CHUNK, Count, 0, undefined, Req),
    mochiweb_request:ok({"text/plain", integer_to_binary(Total)}, Req);
route('GET', "/download", Req) ->
    Bytes = bench_server:query_bytes(mochiweb_request:parse_qs(Req)),
    Resp = mochiweb_request:start_response_length(
             {200, [{"Content-Type", "application/octet-stream"}], Bytes}, Req),
    bench_server:send_zeros(Bytes, fun(Data, R) -> mochiweb_response:send(Data, R), R end, Resp);
%% mochiweb's own static file serving: it reads the file and sends it
%% through gen_tcp (it has no sendfile path).
route('GET', "/file", Req) ->
    Path = bench_server:file_path(bench_server:query_bytes(mochiweb_request:parse_qs(Req))),
    mochiweb_request:serve_file(binary_to_list(filename:basename(Path)),
                                binary_to_list(filename:dirname(Path)), Req);
%% The counterpart of Ferry's read_body_to_file: the body streamed into a
%% raw file as it is read, the file removed once answered.
route('POST', "/upload_file", Req) ->
    Path = filename:join(bench_server:upload_dir(),
                         "mochiweb-upload-" ++ integer_to_list(erlang:unique_integer([positive]))),
    {ok, Fd} = file:open(Path, [write, raw, binary]),
    Write = fun({0, _Footers}, N) -> N;
               ({_Len, Bin}, N) -> ok = file:write(Fd, Bin), N + byte_size(Bin) end,
    Total = mochiweb_request:stream_body(?CHUNK, Write, 0, undefined, Req),
    ok = file:close(Fd),
    Res = mochiweb_request:ok({"text/plain", integer_to_binary(Total)}, Req),
    ok = file:delete(Path),
    Res;
route(_, _, Req) ->
    mochiweb_request:not_found(Req).
