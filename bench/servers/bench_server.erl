%% What the benchmark's Erlang servers share: announcing readiness to the
%% harness, the 1 MiB of zeros a download is streamed from, and where the
%% files of scenarios 14-15 are (bench/harness/file_scenarios.py sets the
%% directories in the environment).
-module(bench_server).
-export([ready/1, query_bytes/1, send_zeros/3, zeros/0]).
-export([file_path/1, upload_dir/0]).

-define(CHUNK, 1048576).

%% The harness waits for this line on stdout (and for the port to answer).
%% Called from the `erl -run` process, which then stays alive: some servers
%% are linked to the process that started them.
-spec ready(inet:port_number()) -> no_return().
ready(Port) ->
    io:format("ready ~b~n", [Port]),
    receive after infinity -> ok end.

%% `bytes=N` from a parsed query string ([{Key, Value}] as strings or binaries).
-spec query_bytes([{string() | binary(), string() | binary()}]) -> non_neg_integer().
query_bytes(Qs) ->
    case [V || {K, V} <- Qs, iolist_to_binary(K) =:= <<"bytes">>] of
        [V | _] -> binary_to_integer(iolist_to_binary(V));
        [] -> 0
    end.

%% One shared refc binary: every chunk of every download is the same bytes.
-spec zeros() -> binary().
zeros() ->
    case persistent_term:get({?MODULE, zeros}, undefined) of
        undefined ->
            Z = binary:copy(<<0>>, ?CHUNK),
            persistent_term:put({?MODULE, zeros}, Z),
            Z;
        Z -> Z
    end.

%% Folds Send over chunks of zeros adding up to Bytes: Send(Chunk, Acc) -> Acc.
-spec send_zeros(non_neg_integer(), fun((binary(), Acc) -> Acc), Acc) -> Acc.
send_zeros(0, _Send, Acc) ->
    Acc;
send_zeros(Bytes, Send, Acc) when Bytes >= ?CHUNK ->
    send_zeros(Bytes - ?CHUNK, Send, Send(zeros(), Acc));
send_zeros(Bytes, Send, Acc) ->
    Send(binary:part(zeros(), 0, Bytes), Acc).

%% The file of `Bytes' bytes that scenario 14 downloads.
-spec file_path(non_neg_integer()) -> binary().
file_path(Bytes) ->
    iolist_to_binary([env_dir("BENCH_FILE_DIR"), "/bench-", integer_to_list(Bytes), ".bin"]).

%% Where scenario 15's uploads are written.
-spec upload_dir() -> binary().
upload_dir() ->
    env_dir("BENCH_UPLOAD_DIR").

env_dir(Name) ->
    case os:getenv(Name) of
        Dir when is_list(Dir), Dir =/= [] -> unicode:characters_to_binary(Dir);
        _ -> <<"/tmp">>
    end.
