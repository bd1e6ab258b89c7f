%% @doc multipart/form-data request bodies, read as they stream in.
%%
%% Two levels, as in Cowboy and Plug:
%%
%% <ul>
%% <li>`read_part/1,2' and `read_part_body/1,2' (`cowboy_req''s names): the
%% parts one by one, each's headers, then its body in pieces. Memory stays
%% bounded whatever the sizes.</li>
%% <li>`read_form/1,2' (Plug's MULTIPART parser): the whole form, fields in
%% memory and files written to temporary files as they come,
%% `[{Name, Value}]' in order, where a file's value is
%% `#{path, filename, content_type, size}'.</li>
%% </ul>
%%
%% Limits (defaults in `ferry_opts:file_defaults(multipart)'): `max_parts',
%% `max_header_bytes' (one part's header block), `max_total' (the body),
%% and for `read_form' `max_field' (one field in memory) and `max_file' (one
%% file). A body that is not multipart/form-data is `{error, {415, ...}}',
%% a malformed one `{error, {400, Why}}', one over a limit `{error, {413,
%% Why}}': the status to answer with, and why. `read_form' then leaves
%% nothing on disk.
%%
%% Temporary files (`tmp_dir', default `ferry_tmp:dir()') are removed when
%% the handler process ends, however it ends (a crash, a kill, a client
%% that left), unless the handler moved them or called `ferry_tmp:keep/1'.
%%
%% The reader's state rides in `Req': always use the `Req' returned last.
-module(ferry_multipart).

-include("ferry_ctx.hrl").

-export([read_part/1, read_part/2, read_part_body/1, read_part_body/2,
         read_form/1, read_form/2]).
-export_type([error/0, upload/0]).

-define(KEY, '$ferry_multipart').

-type error() :: {400 | 413 | 415 | 500, atom()}.
-type upload() :: #{path := binary(), filename := binary(),
                    content_type := binary() | undefined, size := non_neg_integer()}.

-record(reader, {parser :: ferry_multipart_parser:state(),
                 events = [] :: [ferry_multipart_parser:event()],
                 eof = false :: boolean(),
                 in_part = false :: boolean(),
                 done = false :: boolean(),
                 total = 0 :: non_neg_integer(),
                 parts = 0 :: non_neg_integer(),
                 opts :: map()}).

%%% Parts one by one

%% @doc The headers of the next part (names lowercase), or `done' after
%% the last. What is left unread of the current part's body is skipped.
-spec read_part(ferry_req:req()) ->
          {ok, [{binary(), binary()}], ferry_req:req()} | {done, ferry_req:req()}
          | {error, error()}.
read_part(Req) -> read_part(Req, #{}).

%% @doc As read_part/1; `Opts' (the limits, `read_length', `timeout') are
%% taken at the first call.
-spec read_part(ferry_req:req(), map()) ->
          {ok, [{binary(), binary()}], ferry_req:req()} | {done, ferry_req:req()}
          | {error, error()}.
read_part(Req, Opts) ->
    case reader(Req, Opts) of
        {ok, #reader{done = true}} -> {done, Req};
        {ok, Reader} -> skip_to_part(Req, Reader);
        {error, _} = Error -> Error
    end.

skip_to_part(Req, Reader0) ->
    case next(Req, Reader0) of
        {{headers, Headers}, Reader} ->
            #reader{parts = N, opts = #{max_parts := Max}} = Reader,
            case N + 1 > Max of
                true -> {error, {413, too_many_parts}};
                false -> {ok, Headers, save(Req, Reader#reader{parts = N + 1, in_part = true})}
            end;
        {done, Reader} -> {done, save(Req, Reader#reader{done = true})};
        {part_end, Reader} -> skip_to_part(Req, Reader#reader{in_part = false});
        {{data, _}, Reader} -> skip_to_part(Req, Reader);
        {error, _} = Error -> Error
    end.

%% @doc The body of the current part: `{more, Data, Req}' each time at
%% least `length' bytes (default `read_length') came, `{ok, Data, Req}'
%% with its end.
-spec read_part_body(ferry_req:req()) ->
          {ok | more, binary(), ferry_req:req()} | {error, error()}.
read_part_body(Req) -> read_part_body(Req, #{}).

-spec read_part_body(ferry_req:req(), #{length => pos_integer()}) ->
          {ok | more, binary(), ferry_req:req()} | {error, error()}.
read_part_body(#{?KEY := #reader{in_part = false}} = Req, _Opts) ->
    {ok, <<>>, Req};
read_part_body(#{?KEY := #reader{opts = #{read_length := Default}} = Reader} = Req, Opts) ->
    body(Req, Reader, maps:get(length, Opts, Default), [], 0);
read_part_body(_Req, _Opts) ->
    %% No part was read yet: read_part/1,2 comes first.
    error({ferry, no_part}).

body(Req, Reader0, Length, Acc, Size) ->
    case next(Req, Reader0) of
        {{data, Data}, Reader} when Size + byte_size(Data) >= Length ->
            {more, iolist_to_binary([Acc, Data]), save(Req, Reader)};
        {{data, Data}, Reader} ->
            body(Req, Reader, Length, [Acc, Data], Size + byte_size(Data));
        {part_end, Reader} ->
            {ok, iolist_to_binary(Acc), save(Req, Reader#reader{in_part = false})};
        {error, _} = Error ->
            Error
    end.

%% The next event, reading more of the body when none is left.
next(_Req, #reader{events = [Event | Rest]} = Reader) ->
    {Event, Reader#reader{events = Rest}};
next(_Req, #reader{eof = true, parser = Parser}) ->
    case ferry_multipart_parser:finish(Parser) of
        %% `done' was handed out already: the reader is past the end.
        ok -> {error, {400, read_past_end}};
        {error, Why} -> {error, {400, Why}}
    end;
next(Req, #reader{parser = Parser, total = Total, opts = Opts} = Reader) ->
    ReadOpts = maps:with([timeout], Opts),
    {Status, Data, _} = ferry_req:read_body(Req, ReadOpts#{length => maps:get(read_length, Opts)}),
    NewTotal = Total + byte_size(Data),
    case NewTotal > maps:get(max_total, Opts) of
        true ->
            {error, {413, too_large}};
        false ->
            case ferry_multipart_parser:feed(Data, Parser) of
                {ok, Events, NewParser} ->
                    next(Req, Reader#reader{parser = NewParser, events = Events,
                                            eof = Status =:= ok, total = NewTotal});
                {error, Why} ->
                    {error, {status(Why), Why}}
            end
    end.

status(header_too_large) -> 413;
status(_) -> 400.

reader(#{?KEY := #reader{} = Reader}, _Opts) ->
    {ok, Reader};
reader(Req, Opts0) ->
    Opts = maps:merge(ferry_opts:file_defaults(multipart), Opts0),
    case ferry_multipart_parser:boundary(ferry_req:header(<<"content-type">>, Req)) of
        {ok, Boundary} ->
            Parser = ferry_multipart_parser:new(Boundary, maps:get(max_header_bytes, Opts)),
            {ok, #reader{parser = Parser, opts = Opts}};
        {error, not_multipart} ->
            {error, {415, not_multipart}};
        {error, Why} ->
            {error, {400, Why}}
    end.

save(Req, Reader) -> Req#{?KEY => Reader}.

%%% The whole form

%% @doc Reads every part: fields into memory, files into temporary files.
-spec read_form(ferry_req:req()) ->
          {ok, [{binary(), binary() | upload()}], ferry_req:req()} | {error, error()}.
read_form(Req) -> read_form(Req, #{}).

-spec read_form(ferry_req:req(), map()) ->
          {ok, [{binary(), binary() | upload()}], ferry_req:req()} | {error, error()}.
read_form(Req0, Opts0) ->
    Opts = maps:merge(ferry_opts:file_defaults(multipart), Opts0),
    case form(read_part(Req0, Opts), Opts, []) of
        {ok, Entries, Req} ->
            {ok, lists:reverse(Entries), Req};
        {error, Why, Entries} ->
            %% Nothing of a refused form stays on disk.
            [ferry_tmp:delete(Path) || {_, #{path := Path}} <- Entries],
            {error, Why}
    end.

form({done, Req}, _Opts, Acc) ->
    {ok, Acc, Req};
form({error, Why}, _Opts, Acc) ->
    {error, Why, Acc};
form({ok, Headers, Req}, Opts, Acc) ->
    case ferry_multipart_parser:form_data(Headers) of
        {data, Name} ->
            case field(Req, maps:get(max_field, Opts), [], 0) of
                {ok, Value, Req1} -> form(read_part(Req1), Opts, [{Name, Value} | Acc]);
                {error, Why} -> {error, Why, Acc}
            end;
        {file, _Name, <<>>, _} ->
            %% A file input left empty: browsers send a part with no name.
            form(read_part(Req), Opts, Acc);
        {file, Name, Filename, ContentType} ->
            Dir = case maps:get(tmp_dir, Opts) of
                      undefined -> ferry_tmp:dir();
                      D -> unicode:characters_to_binary(D)
                  end,
            case ferry_tmp:create(Dir, <<"ferry-multipart-">>) of
                {ok, Path, Fd} ->
                    Upload = #{path => Path, filename => Filename, content_type => ContentType},
                    %% Tracked in Acc at once, so an error removes it too.
                    Acc1 = [{Name, Upload#{size => 0}} | Acc],
                    case file_body(Req, Fd, Path, maps:get(max_file, Opts), 0) of
                        {ok, Size, Req1} ->
                            form(read_part(Req1), Opts, [{Name, Upload#{size => Size}} | Acc]);
                        {error, Why} ->
                            {error, Why, Acc1}
                    end;
                {error, Reason} ->
                    {error, Why} = write_failed(Req, Dir, Reason),
                    {error, Why, Acc}
            end;
        error ->
            {error, {400, bad_disposition}, Acc}
    end.

field(Req0, Max, Acc, Size) ->
    case read_part_body(Req0) of
        {_, Data, _} when Size + byte_size(Data) > Max -> {error, {413, field_too_large}};
        {more, Data, Req} -> field(Req, Max, [Acc, Data], Size + byte_size(Data));
        {ok, Data, Req} -> {ok, iolist_to_binary([Acc, Data]), Req};
        {error, _} = Error -> Error
    end.

%% Written piece by piece as it comes: the file part never sits whole in
%% memory.
file_body(Req0, Fd, Path, Max, Size) ->
    case read_part_body(Req0) of
        {_, Data, _} when Size + byte_size(Data) > Max ->
            _ = file:close(Fd),
            {error, {413, file_too_large}};
        {Status, Data, Req} when Status =:= more; Status =:= ok ->
            case file:write(Fd, Data) of
                ok when Status =:= more ->
                    file_body(Req, Fd, Path, Max, Size + byte_size(Data));
                ok ->
                    case file:close(Fd) of
                        ok -> {ok, Size + byte_size(Data), Req};
                        {error, Reason} -> write_failed(Req, Path, Reason)
                    end;
                {error, Reason} ->
                    _ = file:close(Fd),
                    write_failed(Req, Path, Reason)
            end;
        {error, _} = Error ->
            _ = file:close(Fd),
            Error
    end.

%% Disk full, tmp_dir missing...: the server's fault, logged.
write_failed(#{?FERRY_CTX := #ferry_ctx{listener = Listener, id = Id}}, Path, Reason) ->
    ferry_log:report(error, #{what => multipart_tmp_failed, listener => Listener, id => Id,
                              path => Path, reason => Reason}),
    {error, {500, tmp_file}}.
