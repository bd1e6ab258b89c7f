%% @doc Temporary files of a request (multipart uploads, bodies written to
%% a file), removed when the request's process ends, however it ends.
%%
%% A handler can be killed (its deadline passed, its client left), so it
%% cannot clean up after itself: the first file it tracks starts a janitor,
%% a small process that monitors it and deletes every tracked path when it
%% goes down. A file the handler moved (renamed) is no longer at its path
%% and survives; `keep/1' keeps one where it is.
-module(ferry_tmp).

-export([dir/0, create/2, track/1, keep/1, delete/1, tracked/0]).

-define(JANITOR, '$ferry_janitor').

%% @doc The directory for temporary files: `$TMPDIR', else `/tmp'.
-spec dir() -> binary().
dir() ->
    case os:getenv("TMPDIR") of
        Dir when is_list(Dir), Dir =/= [] -> unicode:characters_to_binary(Dir);
        _ -> <<"/tmp">>
    end.

%% @doc Creates a new file `<Dir>/<Prefix><random>' (exclusive: never an
%% existing file or link), mode 0600, tracked, opened raw for writing.
-spec create(binary(), binary()) -> {ok, binary(), file:io_device()} | {error, term()}.
create(Dir, Prefix) ->
    Name = <<Prefix/binary, (binary:encode_hex(random_bytes(16)))/binary>>,
    Path = filename:join(Dir, Name),
    %% Tracked before it exists: a kill between the two leaves nothing.
    track(Path),
    case file:open(Path, [write, raw, binary, exclusive]) of
        {ok, Fd} ->
            %% Before any byte is written (file:open cannot set a mode).
            case file:change_mode(Path, 8#600) of
                ok -> {ok, Path, Fd};
                {error, _} = Error -> _ = file:close(Fd), delete(Path), Error
            end;
        {error, _} = Error ->
            forget(Path),
            Error
    end.

%% Names other users of a shared /tmp cannot guess. `exclusive' already
%% refuses a planted file or link, so a weaker name only risks an eexist.
random_bytes(N) ->
    try crypto:strong_rand_bytes(N)
    catch error:_ -> rand:bytes(N)
    end.

%% @doc Deletes `Path' when the calling process ends.
-spec track(binary()) -> ok.
track(Path) ->
    janitor() ! {track, Path},
    ok.

%% @doc Keeps `Path': it is no longer deleted when the process ends.
-spec keep(binary()) -> ok.
keep(Path) -> forget(Path).

%% @doc Deletes a tracked file now.
-spec delete(binary()) -> ok.
delete(Path) ->
    _ = file:delete(Path),
    forget(Path).

%% @doc The paths the calling process's janitor will delete (for tests).
-spec tracked() -> [binary()].
tracked() ->
    case get(?JANITOR) of
        undefined -> [];
        Pid ->
            Ref = monitor(process, Pid),
            Pid ! {tracked, self(), Ref},
            receive
                {Ref, Paths} -> demonitor(Ref, [flush]), Paths;
                {'DOWN', Ref, _, _, _} -> []
            end
    end.

forget(Path) ->
    case get(?JANITOR) of
        undefined -> ok;
        Pid -> Pid ! {forget, Path}, ok
    end.

janitor() ->
    case get(?JANITOR) of
        undefined ->
            Owner = self(),
            %% Not linked: it must outlive the owner's kill to do its job.
            Pid = spawn(fun() -> janitor_init(Owner) end),
            put(?JANITOR, Pid),
            Pid;
        Pid ->
            Pid
    end.

janitor_init(Owner) ->
    Ref = monitor(process, Owner),
    janitor_loop(Ref, #{}).

janitor_loop(Ref, Paths) ->
    receive
        {track, Path} ->
            janitor_loop(Ref, Paths#{Path => true});
        {forget, Path} ->
            janitor_loop(Ref, maps:remove(Path, Paths));
        {tracked, From, Tag} ->
            From ! {Tag, maps:keys(Paths)},
            janitor_loop(Ref, Paths);
        {'DOWN', Ref, process, _, _} ->
            _ = [file:delete(P) || P <- maps:keys(Paths)],
            ok
    end.
