-module(ferry_mime_tests).
-include_lib("eunit/include/eunit.hrl").

common_types_test_() ->
    [?_assertEqual(Type, ferry_mime:from_path(Path))
     || {Path, Type} <- [{<<"index.html">>, <<"text/html; charset=utf-8">>},
                         {<<"a/b/app.css">>, <<"text/css; charset=utf-8">>},
                         {<<"app.js">>, <<"text/javascript; charset=utf-8">>},
                         {<<"data.json">>, <<"application/json">>},
                         {<<"logo.png">>, <<"image/png">>},
                         {<<"photo.JPG">>, <<"image/jpeg">>},
                         {<<"icon.svg">>, <<"image/svg+xml">>},
                         {<<"font.woff2">>, <<"font/woff2">>},
                         {<<"mod.wasm">>, <<"application/wasm">>},
                         {<<"doc.pdf">>, <<"application/pdf">>},
                         {<<"clip.mp4">>, <<"video/mp4">>},
                         {<<"notes.txt">>, <<"text/plain; charset=utf-8">>}]].

unknown_and_missing_extensions_test_() ->
    Default = <<"application/octet-stream">>,
    [?_assertEqual(Default, ferry_mime:from_path(P))
     || P <- [<<"README">>, <<"archive.unknownext">>, <<"dir.d/file">>, <<".profile">>,
              <<"trailing.">>, <<>>]].

extra_types_win_test() ->
    Extra = #{<<"txt">> => <<"text/x-mine">>, <<"foo">> => <<"application/foo">>},
    ?assertEqual(<<"text/x-mine">>, ferry_mime:from_path(<<"a.TXT">>, Extra)),
    ?assertEqual(<<"application/foo">>, ferry_mime:from_path(<<"a.foo">>, Extra)),
    ?assertEqual(<<"image/png">>, ferry_mime:from_path(<<"a.png">>, Extra)).
