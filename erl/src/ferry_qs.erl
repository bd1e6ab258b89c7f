%% @doc Query strings (and `application/x-www-form-urlencoded' bodies): one
%% set of decoding rules for the Erlang and the Elixir side, and Cowboy's
%% `match_qs' on top.
%%
%% The rules (docs/ERLANG_API.md "Paths and query strings"): pairs are separated by
%% `&' (empty ones skipped); a pair is `key=value', or `key' alone (value
%% `true'); `+' is a space; `%' must be followed by two hex digits; the
%% decoded key and value must be UTF-8; a pair whose key decodes to
%% nothing is skipped. A query string that breaks them is refused whole:
%% nothing in it can be trusted to mean what its sender meant.
%%
%% Pure: no process, no I/O.
-module(ferry_qs).

-export([parse/1, match/2, describe/1]).
-export_type([pairs/0, field/0, error/0]).

-type pairs() :: [{binary(), binary() | true}].
-type constraint() :: int | nonempty
                    | fun((forward, term()) -> {ok, term()} | {error, term()}).
-type field() :: atom()
               | {atom(), constraint() | [constraint()]}
               | {atom(), constraint() | [constraint()], term()}.
-type error() :: {bad_escape, binary()} | {not_utf8, binary()}.

%% @doc The pairs of a query string, in order, duplicates kept.
-spec parse(binary()) -> {ok, pairs()} | {error, error()}.
parse(Query) when is_binary(Query) ->
    try
        {ok, [Pair || Raw <- binary:split(Query, <<"&">>, [global]), Raw =/= <<>>,
                      {Key, _} = Pair <- [pair(Raw)], Key =/= <<>>]}
    catch throw:{bad_qs, Why} -> {error, Why}
    end.

pair(Raw) ->
    case binary:split(Raw, <<"=">>) of
        [Key] -> {decode(Key, Raw), true};
        [Key, Value] -> {decode(Key, Raw), decode(Value, Raw)}
    end.

decode(Bin, Raw) ->
    Spaced = binary:replace(Bin, <<"+">>, <<" ">>, [global]),
    case ferry_router:pct_decode(Spaced) of
        {ok, Decoded} ->
            case unicode:characters_to_binary(Decoded) of
                Decoded -> Decoded;
                _ -> throw({bad_qs, {not_utf8, Raw}})
            end;
        error ->
            throw({bad_qs, {bad_escape, Raw}})
    end.

%% @doc Cowboy's `match_qs' over pairs: a map from each field's name to its
%% value. `Name' is required; `{Name, Constraints}' too, with each
%% constraint applied in turn (`int': an integer; `nonempty': not `<<>>'
%% nor `true'; a fun called as `F(forward, Value)' returning `{ok, V}' or
%% `{error, Reason}'); `{Name, Constraints, Default}' may be absent and is
%% then `Default' (constraints are not applied to it). A key given several
%% times has the list of its values. Keys not asked for are ignored: no
%% atom is made from the request.
-spec match([field()], pairs()) -> {ok, #{atom() => term()}} | {error, #{atom() => term()}}.
match(Fields, Pairs) ->
    Values = lists:foldr(fun({K, V}, Acc) ->
                                 maps:update_with(K, fun(Vs) -> [V | Vs] end, [V], Acc)
                         end, #{}, Pairs),
    {Ok, Errors} = lists:foldl(fun(Field, Acc) -> field(Field, Values, Acc) end,
                               {#{}, #{}}, Fields),
    case map_size(Errors) of
        0 -> {ok, Ok};
        _ -> {error, Errors}
    end.

field(Name, Values, Acc) when is_atom(Name) ->
    field({Name, []}, Values, Acc);
field({Name, Constraints}, Values, {Ok, Errors}) ->
    case lookup(Name, Values) of
        error -> {Ok, Errors#{Name => missing}};
        {ok, Value} -> apply_constraints(Name, Constraints, Value, {Ok, Errors})
    end;
field({Name, Constraints, Default}, Values, {Ok, Errors}) ->
    case lookup(Name, Values) of
        error -> {Ok#{Name => Default}, Errors};
        {ok, Value} -> apply_constraints(Name, Constraints, Value, {Ok, Errors})
    end.

lookup(Name, Values) ->
    case maps:find(atom_to_binary(Name), Values) of
        {ok, [One]} -> {ok, One};
        {ok, Many} -> {ok, Many};
        error -> error
    end.

apply_constraints(Name, Constraint, Value, Acc) when not is_list(Constraint) ->
    apply_constraints(Name, [Constraint], Value, Acc);
apply_constraints(Name, [], Value, {Ok, Errors}) ->
    {Ok#{Name => Value}, Errors};
apply_constraints(Name, [C | Rest], Value, {Ok, Errors}) ->
    case constraint(C, Value) of
        {ok, Next} -> apply_constraints(Name, Rest, Next, {Ok, Errors});
        {error, Why} -> {Ok, Errors#{Name => Why}}
    end.

constraint(int, Value) when is_binary(Value) ->
    try {ok, binary_to_integer(Value)}
    catch error:badarg -> {error, not_an_integer}
    end;
constraint(int, _) ->
    {error, not_an_integer};
constraint(nonempty, Value) when Value =:= <<>>; Value =:= true ->
    {error, empty};
constraint(nonempty, Value) ->
    {ok, Value};
constraint(Fun, Value) when is_function(Fun, 2) ->
    Fun(forward, Value).

%% @doc One line saying what is wrong, for a 400's body and for people.
-spec describe({query, error()} | {match_qs, #{atom() => term()}} | term()) -> binary().
describe({query, {bad_escape, Raw}}) ->
    iolist_to_binary(["the query string has a % not followed by two hex digits in ", quoted(Raw)]);
describe({query, {not_utf8, Raw}}) ->
    iolist_to_binary(["the query string does not decode to UTF-8 in ", quoted(Raw)]);
describe({match_qs, Errors}) ->
    Each = [io_lib:format("~ts: ~0tp", [Name, Why]) || {Name, Why} <- lists:sort(maps:to_list(Errors))],
    iolist_to_binary(["bad query parameters: ", lists:join(", ", Each)]);
describe(Why) ->
    iolist_to_binary(io_lib:format("~0tp", [Why])).

%% A pair as its sender wrote it: between quotes when it is text (the
%% raw pair is still percent-encoded), as an Erlang binary when not.
quoted(Raw) ->
    case unicode:characters_to_binary(Raw) of
        Raw -> [$", Raw, $"];
        _ -> io_lib:format("~0tp", [Raw])
    end.
