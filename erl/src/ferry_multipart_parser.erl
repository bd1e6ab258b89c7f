%% @doc multipart/form-data (RFC 7578, framing of RFC 2046 5.1) as a pure
%% incremental parser: body bytes go in, in pieces of any size, and events
%% come out: `{headers, Headers}' at the start of each part, `{data, Bin}'
%% for its body, `part_end', and `done' at the close delimiter.
%%
%% Memory stays bounded whatever the sizes: a part's body is handed out as
%% it comes, only a tail that could be the start of a delimiter is kept,
%% and a part's header block is refused past `max_header_bytes'.
%% `ferry_multipart' reads the request body and drives this.
-module(ferry_multipart_parser).

-export([boundary/1, new/2, feed/2, finish/1, form_data/1]).
-export_type([state/0, event/0]).

-record(mp, {delim :: binary(),              % <<"\r\n--", Boundary/binary>>
             phase = preamble :: preamble | delimiter | headers | body | epilogue,
             buf :: binary(),
             max_header :: pos_integer()}).
-opaque state() :: #mp{}.
-type event() :: {headers, [{binary(), binary()}]} | {data, binary()} | part_end | done.
-type error() :: bad_delimiter | bad_headers | header_too_large.

%% @doc The boundary of a `content-type' value, if it is multipart/form-data
%% (RFC 2046 5.1.1: 1 to 70 characters).
-spec boundary(binary() | undefined) -> {ok, binary()} | {error, not_multipart | bad_boundary}.
boundary(undefined) ->
    {error, not_multipart};
boundary(ContentType) ->
    [Type | Params] = split_params(ContentType),
    case string:lowercase(string:trim(Type)) of
        <<"multipart/form-data">> ->
            case lists:keyfind(<<"boundary">>, 1, Params) of
                {_, B} when byte_size(B) >= 1, byte_size(B) =< 70 ->
                    case binary:match(B, [<<"\r">>, <<"\n">>, <<0>>]) of
                        nomatch -> {ok, B};
                        _ -> {error, bad_boundary}
                    end;
                _ -> {error, bad_boundary}
            end;
        _ ->
            {error, not_multipart}
    end.

%% @doc A parser for a body whose boundary is `Boundary'.
-spec new(binary(), pos_integer()) -> state().
new(Boundary, MaxHeaderBytes) ->
    %% The first delimiter may open the body, without the CRLF before it.
    #mp{delim = <<"\r\n--", Boundary/binary>>, buf = <<"\r\n">>, max_header = MaxHeaderBytes}.

%% @doc The events of the next piece of the body, in order.
-spec feed(binary(), state()) -> {ok, [event()], state()} | {error, error()}.
feed(Data, #mp{buf = Buf} = Mp) ->
    step(Mp#mp{buf = <<Buf/binary, Data/binary>>}, []).

%% @doc At the end of the body: was the close delimiter seen?
-spec finish(state()) -> ok | {error, truncated}.
finish(#mp{phase = epilogue}) -> ok;
finish(#mp{}) -> {error, truncated}.

step(#mp{phase = preamble, buf = Buf, delim = Delim} = Mp, Acc) ->
    case binary:match(Buf, Delim) of
        {Pos, Len} ->
            step(Mp#mp{phase = delimiter, buf = rest(Buf, Pos + Len)}, Acc);
        nomatch ->
            done(Mp#mp{buf = tail(Buf, byte_size(Delim) - 1)}, Acc)
    end;
step(#mp{phase = delimiter, buf = <<"--", _/binary>>} = Mp, Acc) ->
    %% The close delimiter: what follows is the epilogue, ignored.
    done(Mp#mp{phase = epilogue, buf = <<>>}, [done | Acc]);
step(#mp{phase = delimiter, buf = Buf, max_header = Max} = Mp, Acc) when byte_size(Buf) >= 2 ->
    case binary:match(Buf, <<"\r\n">>) of
        {Pos, 2} ->
            %% RFC 2046: transport padding (spaces, tabs) may follow a delimiter.
            case is_padding(binary:part(Buf, 0, Pos)) of
                true -> step(Mp#mp{phase = headers, buf = rest(Buf, Pos + 2)}, Acc);
                false -> {error, bad_delimiter}
            end;
        nomatch ->
            case is_padding(binary:part(Buf, 0, byte_size(Buf) - 1)) andalso byte_size(Buf) =< Max of
                true -> done(Mp, Acc);
                false -> {error, bad_delimiter}
            end
    end;
step(#mp{phase = delimiter} = Mp, Acc) ->
    done(Mp, Acc);
step(#mp{phase = headers, buf = <<"\r\n", Rest/binary>>} = Mp, Acc) ->
    step(Mp#mp{phase = body, buf = Rest}, [{headers, []} | Acc]);
step(#mp{phase = headers, buf = Buf, max_header = Max} = Mp, Acc) ->
    case binary:match(Buf, <<"\r\n\r\n">>) of
        {Pos, 4} when Pos + 4 =< Max ->
            case parse_headers(binary:part(Buf, 0, Pos)) of
                {ok, Headers} ->
                    step(Mp#mp{phase = body, buf = rest(Buf, Pos + 4)}, [{headers, Headers} | Acc]);
                error ->
                    {error, bad_headers}
            end;
        {_, 4} ->
            {error, header_too_large};
        nomatch when byte_size(Buf) >= Max ->
            {error, header_too_large};
        nomatch ->
            done(Mp, Acc)
    end;
step(#mp{phase = body, buf = Buf, delim = Delim} = Mp, Acc) ->
    case binary:match(Buf, Delim) of
        {Pos, Len} ->
            Data = [{data, binary:part(Buf, 0, Pos)} || Pos > 0],
            step(Mp#mp{phase = delimiter, buf = rest(Buf, Pos + Len)},
                 [part_end | Data ++ Acc]);
        nomatch ->
            %% All but what could be the start of the next delimiter.
            Keep = min(byte_size(Buf), byte_size(Delim) - 1),
            Out = byte_size(Buf) - Keep,
            Data = [{data, binary:part(Buf, 0, Out)} || Out > 0],
            done(Mp#mp{buf = rest(Buf, Out)}, Data ++ Acc)
    end;
step(#mp{phase = epilogue} = Mp, Acc) ->
    done(Mp#mp{buf = <<>>}, Acc).

done(Mp, Acc) ->
    {ok, lists:reverse(Acc), Mp}.

rest(Bin, N) -> binary:part(Bin, N, byte_size(Bin) - N).

tail(Bin, N) when byte_size(Bin) =< N -> Bin;
tail(Bin, N) -> binary:part(Bin, byte_size(Bin) - N, N).

is_padding(Bin) -> lists:all(fun(C) -> C =:= $\s orelse C =:= $\t end, binary_to_list(Bin)).

%% RFC 7578 4.8: the fields of a part's header block, names lowercased. No
%% obsolete line folding, no field without a colon, no control bytes.
parse_headers(Block) ->
    try {ok, [header(L) || L <- binary:split(Block, <<"\r\n">>, [global])]}
    catch throw:bad -> error
    end.

header(Line) ->
    case binary:split(Line, <<":">>) of
        [Name, Value] when Name =/= <<>> ->
            ferry_router:is_token(Name) orelse throw(bad),
            Trimmed = string:trim(Value, both, " \t"),
            lists:all(fun(C) -> C >= 32 orelse C =:= $\t end, binary_to_list(Trimmed))
                orelse throw(bad),
            {string:lowercase(Name), Trimmed};
        _ ->
            throw(bad)
    end.

%% @doc What a part is, by its `content-disposition' (RFC 7578 4.2): a
%% field, or a file with its name and `content-type' (`undefined' when the
%% part has none). `filename*' (RFC 5987, UTF-8) wins over `filename'.
-spec form_data([{binary(), binary()}]) ->
          {data, binary()} | {file, binary(), binary(), binary() | undefined} | error.
form_data(Headers) ->
    case lists:keyfind(<<"content-disposition">>, 1, Headers) of
        {_, Value} ->
            [Type | Params] = split_params(Value),
            Name = lists:keyfind(<<"name">>, 1, Params),
            case {string:lowercase(string:trim(Type)), Name} of
                {<<"form-data">>, {_, N}} ->
                    case filename(Params) of
                        undefined -> {data, N};
                        File ->
                            CT = case lists:keyfind(<<"content-type">>, 1, Headers) of
                                     {_, T} -> T;
                                     false -> undefined
                                 end,
                            {file, N, File, CT}
                    end;
                _ ->
                    error
            end;
        false ->
            error
    end.

filename(Params) ->
    case lists:keyfind(<<"filename*">>, 1, Params) of
        {_, Ext} ->
            case ext_value(Ext) of
                {ok, Name} -> Name;
                error -> plain_filename(Params)
            end;
        false ->
            plain_filename(Params)
    end.

plain_filename(Params) ->
    case lists:keyfind(<<"filename">>, 1, Params) of
        {_, Name} -> Name;
        false -> undefined
    end.

%% RFC 5987: UTF-8''percent%20encoded (other charsets are not decoded).
ext_value(Value) ->
    case binary:split(Value, <<"'">>, [global]) of
        [Charset, _Lang, Encoded] ->
            case string:lowercase(Charset) of
                <<"utf-8">> -> ferry_router:pct_decode(Encoded);
                _ -> error
            end;
        _ ->
            error
    end.

%% `type; key=value; key="quoted; value"': the first element, then
%% {lowercase key, value} pairs, quoted strings unescaped.
split_params(Value) ->
    {First, Rest} = take_until_semicolon(Value, <<>>),
    [First | params(Rest, [])].

params(<<>>, Acc) ->
    lists:reverse(Acc);
params(Bin, Acc) ->
    case binary:match(Bin, [<<"=">>, <<";">>]) of
        {Pos, 1} when binary_part(Bin, Pos, 1) =:= <<"=">> ->
            Key = binary:part(Bin, 0, Pos),
            ValueEtc = rest(Bin, Pos + 1),
            {Value, Rest} = param_value(string:trim(ValueEtc, leading, " \t")),
            params(Rest, [{string:lowercase(string:trim(Key, both, " \t")), Value} | Acc]);
        {Pos, 1} ->
            %% A parameter without a value: skipped.
            params(rest(Bin, Pos + 1), Acc);
        nomatch ->
            lists:reverse(Acc)
    end.

param_value(<<"\"", Quoted/binary>>) ->
    {Value, Rest} = quoted(Quoted, <<>>),
    {_, After} = take_until_semicolon(Rest, <<>>),
    {Value, After};
param_value(Bin) ->
    {Value, Rest} = take_until_semicolon(Bin, <<>>),
    {string:trim(Value, both, " \t"), Rest}.

quoted(<<"\\", C, Rest/binary>>, Acc) -> quoted(Rest, <<Acc/binary, C>>);
quoted(<<"\"", Rest/binary>>, Acc) -> {Acc, Rest};
quoted(<<C, Rest/binary>>, Acc) -> quoted(Rest, <<Acc/binary, C>>);
quoted(<<>>, Acc) -> {Acc, <<>>}.

take_until_semicolon(<<";", Rest/binary>>, Acc) -> {Acc, Rest};
take_until_semicolon(<<C, Rest/binary>>, Acc) -> take_until_semicolon(Rest, <<Acc/binary, C>>);
take_until_semicolon(<<>>, Acc) -> {Acc, <<>>}.
