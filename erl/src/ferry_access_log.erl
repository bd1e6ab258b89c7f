%% @doc The access log: one line per request through `logger', for a
%% listener started with `access_log => true' (or a level). The line is the
%% common log's request part, with the time taken:
%%
%% ```
%% 127.0.0.1 "GET /hello?x=1 HTTP/1.1" 200 19 0.412ms
%% '''
%%
%% (peer, request line, status, bytes written, duration; `-' for a status
%% never sent), and its fields are logger metadata: `listener',
%% `request_id', `method', `path', `status', `peer', `bytes',
%% `duration_us', `route'. Elixir's Logger shows the line and can print
%% any of them (`metadata: [:request_id]'). Like ferry's other reports it
%% has no `domain' (OTP's default handler would drop it) and its `mfa' is
%% in this module, so `logger:set_module_level(ferry_access_log, none)'
%% silences it.
-module(ferry_access_log).

-export([log/4, line/3]).

%% @doc Logs a request's line at `Level' (`true' is `info').
-spec log(true | logger:level(), map(), map(), map()) -> ok.
log(true, Req, Measurements, Meta) ->
    log(info, Req, Measurements, Meta);
log(Level, Req, Measurements, Meta) ->
    Us = erlang:convert_time_unit(maps:get(duration, Measurements), native, microsecond),
    Bytes = maps:get(resp_bytes, Measurements, maps:get(resp_body_bytes, Measurements)),
    logger:log(Level, "~ts", [line(Req, maps:get(status, Measurements, undefined), #{bytes => Bytes,
                                                                         duration_us => Us})],
               (maps:with([listener, request_id, method, path, status, peer, route, error], Meta))
                   #{bytes => Bytes, duration_us => Us,
                     mfa => {?MODULE, log, 4}}).

%% @doc The line for a request.
-spec line(map(), 100..599 | undefined, #{bytes := non_neg_integer(),
                                          duration_us := non_neg_integer()}) -> iodata().
line(Req, Status, #{bytes := Bytes, duration_us := Us}) ->
    {Major, Minor} = maps:get(version, Req, {1, 1}),
    [peer(maps:get(peer, Req, undefined)), " \"", maps:get(method, Req, <<"-">>), " ",
     printable(maps:get(path, Req, <<"-">>)),
     case maps:get(query, Req, <<>>) of
         <<>> -> "";
         Query -> [$?, printable(Query)]
     end,
     " HTTP/", integer_to_list(Major), ".", integer_to_list(Minor), "\" ",
     case Status of
         undefined -> "-";
         _ -> integer_to_list(Status)
     end,
     " ", integer_to_list(Bytes), " ",
     float_to_list(Us / 1000, [{decimals, 3}]), "ms"].

peer({Ip, _Port}) ->
    case inet:ntoa(Ip) of
        {error, _} -> "-";
        Text -> Text
    end;
peer(_) ->
    "-".

%% The target as the client sent it, but a control byte or a quote (which
%% would let a client forge log lines) as \xHH.
printable(Bin) ->
    << <<(case C of
              _ when C < 16#20; C =:= 16#7f; C =:= $"; C =:= $\\ ->
                  iolist_to_binary(io_lib:format("\\x~2.16.0B", [C]));
              _ -> <<C>>
          end)/binary>> || <<C>> <= Bin >>.
