%% @doc The `tls' listener option on the BEAM side: reshaped for the port
%% (strings to binaries, `sni_hosts' as a list of `{Name, Map}'), and what
%% a request learnt from TLS. Rust reads the files and refuses bad ones
%% (docs/OPTIONS.md, `tls'); nothing here does crypto.
-module(ferry_tls).

-export([listen_value/1, info/1, peer_cert/1]).
-export_type([opts/0, info/0]).

-type path() :: file:filename_all().
-type cert_opts() :: #{certfile := path(), keyfile => path(), password => iodata()}.
-type opts() :: #{certfile := path(),
                  keyfile => path(),
                  password => iodata(),
                  cacertfile => path(),
                  verify => verify_none | verify_peer,
                  fail_if_no_peer_cert => boolean(),
                  sni_hosts => [{string() | binary(), cert_opts()}] | #{string() | binary() => cert_opts()},
                  handshake_timeout => pos_integer()}.
-type info() :: #{version := 'tlsv1.2' | 'tlsv1.3',
                  cipher := binary(),
                  alpn := binary() | undefined,
                  sni := binary() | undefined,
                  peer_cert := binary() | undefined}.

-define(PATHS, [certfile, keyfile, cacertfile]).

%% @doc The option as the port reads it. Values Rust will refuse are
%% passed on as they are, so its message names them.
-spec listen_value(map()) -> map().
listen_value(Opts) ->
    maps:map(fun value/2, Opts).

value(K, V) when is_list(V) ->
    case lists:member(K, ?PATHS) of
        true -> to_binary(V);
        false when K =:= password -> to_binary(V);
        false when K =:= sni_hosts -> [host(H) || H <- V];
        false -> V
    end;
value(sni_hosts, V) when is_map(V) ->
    [host(H) || H <- lists:sort(maps:to_list(V))];
value(_, V) ->
    V.

host({Name, Opts}) when is_map(Opts) ->
    {to_binary(Name), maps:map(fun value/2, Opts)};
host({Name, Opts}) when is_list(Opts) ->
    %% ssl's own shape: a proplist of options.
    {to_binary(Name), maps:map(fun value/2, maps:from_list(Opts))};
host(Other) ->
    Other.

to_binary(V) when is_list(V) ->
    case unicode:characters_to_binary(V) of
        B when is_binary(B) -> B;
        _ -> V
    end;
to_binary(V) when is_atom(V) -> atom_to_binary(V);
to_binary(V) -> V.

%% @doc What the connection of request `Req' negotiated, or `undefined'
%% over plain TCP.
-spec info(ferry_req:req() | map()) -> info() | undefined.
info(#{tls := Info}) -> Info;
info(_) -> undefined.

%% @doc The client's certificate (DER), when `verify => verify_peer'
%% checked one.
-spec peer_cert(ferry_req:req() | map()) -> binary() | undefined.
peer_cert(#{tls := #{peer_cert := Der}}) -> Der;
peer_cert(_) -> undefined.
