%% @doc Cookies, after cowlib's `cow_cookie': the `cookie' request field
%% read into pairs and `set-cookie' response fields written (RFC 6265).
%%
%% Pure: no process, no I/O. `ferry_req:parse_cookies/1' and
%% `ferry_req:set_resp_cookie/4' use it on a request; the Elixir
%% `Ferry.Conn' cookie functions use it too, so both sides read and write
%% cookies by the same rules.
-module(ferry_cookie).

-export([parse/1, setcookie/3, defaults/0]).
-export_type([opts/0]).

-type opts() :: #{max_age => non_neg_integer(),
                  path => binary() | undefined,
                  domain => binary(),
                  secure => boolean(),
                  http_only => boolean(),
                  same_site => strict | lax | none,
                  extra => binary()}.   % more attributes, as written: <<"Partitioned">>

%% @doc What `setcookie/3' sends when `Opts' does not say: `Path=/' (the
%% whole site, not the request's directory as RFC 6265 5.2.4 would make
%% it) and `HttpOnly' (scripts cannot read it), as Plug does. `path =>
%% undefined' and `http_only => false' drop them.
-spec defaults() -> opts().
defaults() -> #{path => <<"/">>, http_only => true}.

%% @doc The pairs of one `cookie' field value, in order, duplicates kept
%% (RFC 6265 5.4: a client sends the most specific cookie first).
%% Pairs are split on `;' and trimmed of spaces and tabs; the value is kept
%% as sent (not percent-decoded; quotes kept). A pair is skipped, as
%% browsers and Plug skip it, when it has no `=', an empty name, a name
%% with a separator or control character (RFC 6265 4.1.1: a token), or a
%% control character in its value.
-spec parse(binary()) -> [{binary(), binary()}].
parse(Field) when is_binary(Field) ->
    [{Name, Value} || Pair <- binary:split(Field, <<";">>, [global]),
                      [Name0, Value0] <- [binary:split(Pair, <<"=">>)],
                      Name <- [trim(Name0)],
                      Value <- [trim(Value0)],
                      is_token(Name), not has_ctl(Value)].

%% @doc One `set-cookie' field value: `Name=Value' and its attributes, over
%% `defaults/0'. `Name' must be a token and `Value' cookie-octets (RFC 6265
%% 4.1.1: no space, `"', `,', `;', `\\' or control character; encode such a
%% value first, with base64url or percent-encoding). `max_age' also writes
%% the matching `Expires' for clients that only know that one. Raises
%% `error({ferry, bad_cookie, Why})' for a bad name, value or option.
-spec setcookie(iodata(), iodata(), opts()) -> binary().
setcookie(Name0, Value0, Opts0) when is_map(Opts0) ->
    Name = iolist_to_binary(Name0),
    Value = iolist_to_binary(Value0),
    is_token(Name) orelse bad({name, Name}),
    is_cookie_octets(Value) orelse bad({value, Name, Value}),
    Opts = maps:merge(defaults(), Opts0),
    maps:foreach(fun check_option/2, Opts),
    iolist_to_binary([Name, $=, Value | attributes(Opts)]);
setcookie(_Name, _Value, Opts) ->
    bad({options, Opts}).

%% Order as Plug writes them; names as RFC 6265 4.1.1 spells them.
attributes(Opts) ->
    [attr(<<"Path">>, maps:get(path, Opts, undefined)),
     attr(<<"Domain">>, maps:get(domain, Opts, undefined)),
     case maps:get(max_age, Opts, undefined) of
         undefined -> [];
         Age -> [<<"; Max-Age=">>, integer_to_binary(Age), <<"; Expires=">>, expires(Age)]
     end,
     flag(<<"Secure">>, maps:get(secure, Opts, false)),
     flag(<<"HttpOnly">>, maps:get(http_only, Opts, false)),
     case maps:get(same_site, Opts, undefined) of
         undefined -> [];
         strict -> <<"; SameSite=Strict">>;
         lax -> <<"; SameSite=Lax">>;
         none -> <<"; SameSite=None">>
     end,
     case maps:get(extra, Opts, undefined) of
         undefined -> [];
         Extra -> [<<"; ">>, Extra]
     end].

attr(_Name, undefined) -> [];
attr(Name, Value) -> [<<"; ">>, Name, $=, Value].

flag(Name, true) -> [<<"; ">>, Name];
flag(_Name, false) -> [].

check_option(max_age, V) when is_integer(V), V >= 0 -> ok;
check_option(path, undefined) -> ok;
check_option(K, V) when K =:= path; K =:= domain ->
    %% RFC 6265 4.1.1 av-octet: a `;' would start an attribute the caller
    %% did not write, a CR or LF a header.
    is_binary(V) andalso V =/= <<>> andalso not has_ctl(V)
        andalso binary:match(V, <<";">>) =:= nomatch
        orelse bad({option, K, V});
check_option(extra, V) ->
    %% Attributes Ferry does not know (`Partitioned', `Priority=High'),
    %% written as given: `;' separates them.
    is_binary(V) andalso not has_ctl(V) orelse bad({option, extra, V});
check_option(K, V) when (K =:= secure orelse K =:= http_only), is_boolean(V) -> ok;
check_option(same_site, V) when V =:= strict; V =:= lax; V =:= none -> ok;
check_option(K, V) -> bad({option, K, V}).

-spec bad(term()) -> no_return().
bad(Why) -> error({ferry, bad_cookie, Why}).

trim(Bin) -> trim_trailing(trim_leading(Bin)).

trim_leading(<<C, Rest/binary>>) when C =:= $\s; C =:= $\t -> trim_leading(Rest);
trim_leading(Bin) -> Bin.

trim_trailing(Bin) ->
    case binary:last(<<0, Bin/binary>>) of
        C when C =:= $\s; C =:= $\t -> trim_trailing(binary:part(Bin, 0, byte_size(Bin) - 1));
        _ -> Bin
    end.

%% RFC 9110 5.6.2 token.
is_token(<<>>) -> false;
is_token(Bin) -> is_token_rest(Bin).

is_token_rest(<<C, Rest/binary>>) when C >= $a, C =< $z; C >= $A, C =< $Z; C >= $0, C =< $9 ->
    is_token_rest(Rest);
is_token_rest(<<C, Rest/binary>>) ->
    lists:member(C, "!#$%&'*+-.^_`|~") andalso is_token_rest(Rest);
is_token_rest(<<>>) ->
    true.

%% RFC 6265 4.1.1 cookie-octet: %x21 / %x23-2B / %x2D-3A / %x3C-5B / %x5D-7E.
is_cookie_octets(<<C, Rest/binary>>)
  when C =:= 16#21; C >= 16#23, C =< 16#2B; C >= 16#2D, C =< 16#3A;
       C >= 16#3C, C =< 16#5B; C >= 16#5D, C =< 16#7E ->
    is_cookie_octets(Rest);
is_cookie_octets(<<_, _/binary>>) -> false;
is_cookie_octets(<<>>) -> true.

has_ctl(Bin) -> has_ctl_rest(Bin).

has_ctl_rest(<<C, _/binary>>) when C < 16#20, C =/= $\t; C =:= 16#7F -> true;
has_ctl_rest(<<_, Rest/binary>>) -> has_ctl_rest(Rest);
has_ctl_rest(<<>>) -> false.

%% IMF-fixdate (RFC 9110 5.6.7) `Age' seconds from now; 0 is the epoch, so
%% a deleted cookie is expired whatever the client's clock says.
expires(0) ->
    <<"Thu, 01 Jan 1970 00:00:00 GMT">>;
expires(Age) ->
    Now = calendar:datetime_to_gregorian_seconds(calendar:universal_time()),
    {{Y, Mo, D} = Date, {H, Mi, S}} = calendar:gregorian_seconds_to_datetime(Now + Age),
    Day = element(calendar:day_of_the_week(Date), {"Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"}),
    Month = element(Mo, {"Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct",
                         "Nov", "Dec"}),
    iolist_to_binary(io_lib:format("~s, ~2..0b ~s ~4..0b ~2..0b:~2..0b:~2..0b GMT",
                                   [Day, D, Month, Y, H, Mi, S])).
