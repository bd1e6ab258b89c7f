%% @doc HTTP dates (RFC 9110 5.6.7): `last-modified' out, and
%% `if-modified-since' / `if-range' in, in any of the three formats a
%% recipient must accept (IMF-fixdate, RFC 850, asctime).
%%
%% Pure (but for the current year, which RFC 850's two-digit years need).
%% Times are POSIX seconds, UTC.
-module(ferry_date).

-export([format/1, parse/1]).

-define(EPOCH, 62167219200).  % calendar:datetime_to_gregorian_seconds({{1970,1,1},{0,0,0}})

%% @doc IMF-fixdate: `Sun, 06 Nov 1994 08:49:37 GMT'.
-spec format(integer()) -> binary().
format(Posix) ->
    {{Y, Mo, D} = Date, {H, Mi, S}} = calendar:gregorian_seconds_to_datetime(Posix + ?EPOCH),
    Day = element(calendar:day_of_the_week(Date), {<<"Mon">>, <<"Tue">>, <<"Wed">>, <<"Thu">>,
                                                   <<"Fri">>, <<"Sat">>, <<"Sun">>}),
    iolist_to_binary([Day, <<", ">>, pad2(D), $\s, month_name(Mo), $\s, integer_to_binary(Y),
                      $\s, pad2(H), $:, pad2(Mi), $:, pad2(S), <<" GMT">>]).

pad2(N) when N < 10 -> [$0, $0 + N];
pad2(N) -> integer_to_binary(N).

%% @doc An HTTP date in any of its three formats; `error' for anything else
%% (a recipient ignores an invalid date, RFC 9110 13.1.3).
-spec parse(binary()) -> {ok, integer()} | error.
%% IMF-fixdate: Sun, 06 Nov 1994 08:49:37 GMT
parse(<<_:3/binary, ", ", D:2/binary, " ", Mon:3/binary, " ", Y:4/binary, " ",
        Time:8/binary, " GMT">>) ->
    to_posix(Y, Mon, D, Time);
%% RFC 850: Sunday, 06-Nov-94 08:49:37 GMT (two-digit years: RFC 9110 5.6.7)
parse(Bin) when byte_size(Bin) > 24 ->
    case binary:split(Bin, <<", ">>) of
        [_Day, <<D:2/binary, "-", Mon:3/binary, "-", YY:2/binary, " ", Time:8/binary, " GMT">>] ->
            case digits(YY) of
                {ok, Y2} -> to_posix(integer_to_binary(century(Y2)), Mon, D, Time);
                error -> error
            end;
        _ ->
            asctime(Bin)
    end;
parse(Bin) ->
    asctime(Bin).

%% asctime: Sun Nov  6 08:49:37 1994
asctime(<<_:3/binary, " ", Mon:3/binary, " ", D:2/binary, " ", Time:8/binary, " ",
          Y:4/binary>>) ->
    to_posix(Y, Mon, string:trim(D, leading), Time);
asctime(_) ->
    error.

%% RFC 9110 5.6.7: a two-digit year that would be more than 50 years in
%% the future is the most recent past year with those digits.
century(Y2) ->
    {{This, _, _}, _} = calendar:universal_time(),
    Y = This - This rem 100 + Y2,
    case Y > This + 50 of
        true -> Y - 100;
        false -> Y
    end.

to_posix(Y, Mon, D, <<H:2/binary, ":", Mi:2/binary, ":", S:2/binary>>) ->
    case {digits(Y), month(Mon), digits(D), digits(H), digits(Mi), digits(S)} of
        {{ok, Year}, {ok, Month}, {ok, Day}, {ok, Hour}, {ok, Min}, {ok, Sec}}
          when Hour < 24, Min < 60, Sec < 61 ->
            case calendar:valid_date(Year, Month, Day) of
                true ->
                    {ok, calendar:datetime_to_gregorian_seconds(
                           {{Year, Month, Day}, {Hour, Min, min(Sec, 59)}}) - ?EPOCH};
                false ->
                    error
            end;
        _ ->
            error
    end;
to_posix(_, _, _, _) ->
    error.

digits(<<>>) -> error;
digits(Bin) ->
    case lists:all(fun(C) -> C >= $0 andalso C =< $9 end, binary_to_list(Bin)) of
        true -> {ok, binary_to_integer(Bin)};
        false -> error
    end.

month(<<"Jan">>) -> {ok, 1};
month(<<"Feb">>) -> {ok, 2};
month(<<"Mar">>) -> {ok, 3};
month(<<"Apr">>) -> {ok, 4};
month(<<"May">>) -> {ok, 5};
month(<<"Jun">>) -> {ok, 6};
month(<<"Jul">>) -> {ok, 7};
month(<<"Aug">>) -> {ok, 8};
month(<<"Sep">>) -> {ok, 9};
month(<<"Oct">>) -> {ok, 10};
month(<<"Nov">>) -> {ok, 11};
month(<<"Dec">>) -> {ok, 12};
month(_) -> error.

month_name(M) ->
    element(M, {<<"Jan">>, <<"Feb">>, <<"Mar">>, <<"Apr">>, <<"May">>, <<"Jun">>, <<"Jul">>,
                <<"Aug">>, <<"Sep">>, <<"Oct">>, <<"Nov">>, <<"Dec">>}).
