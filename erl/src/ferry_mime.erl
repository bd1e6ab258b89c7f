%% @doc Content types by file extension: the built-in table of the types a
%% web server meets every day (the common subset of nginx's mime.types and
%% Plug's MIME table). Text types carry `charset=utf-8', as browsers would
%% otherwise guess.
%%
%% Pure. Extensions are matched case-insensitively; an unknown one is
%% `application/octet-stream', which browsers download rather than render.
-module(ferry_mime).

-export([from_path/1, from_path/2, from_extension/1]).

-define(DEFAULT, <<"application/octet-stream">>).

%% @doc The type of a file by the extension of its name.
-spec from_path(binary()) -> binary().
from_path(Path) -> from_path(Path, #{}).

%% @doc As from_path/1, with `Extra' (extension without the dot, lowercase,
%% to type) looked up first.
-spec from_path(binary(), #{binary() => binary()}) -> binary().
from_path(Path, Extra) ->
    case filename:extension(filename:basename(Path)) of
        <<".", Ext/binary>> ->
            Lower = string:lowercase(Ext),
            case Extra of
                #{Lower := Type} -> Type;
                _ -> from_extension(Lower)
            end;
        _ ->
            ?DEFAULT
    end.

%% @doc The type of a lowercase extension without its dot.
-spec from_extension(binary()) -> binary().
%% Text
from_extension(<<"html">>) -> <<"text/html; charset=utf-8">>;
from_extension(<<"htm">>) -> <<"text/html; charset=utf-8">>;
from_extension(<<"css">>) -> <<"text/css; charset=utf-8">>;
from_extension(<<"js">>) -> <<"text/javascript; charset=utf-8">>;
from_extension(<<"mjs">>) -> <<"text/javascript; charset=utf-8">>;
from_extension(<<"txt">>) -> <<"text/plain; charset=utf-8">>;
from_extension(<<"text">>) -> <<"text/plain; charset=utf-8">>;
from_extension(<<"md">>) -> <<"text/markdown; charset=utf-8">>;
from_extension(<<"csv">>) -> <<"text/csv; charset=utf-8">>;
from_extension(<<"xml">>) -> <<"text/xml; charset=utf-8">>;
from_extension(<<"ics">>) -> <<"text/calendar; charset=utf-8">>;
from_extension(<<"vtt">>) -> <<"text/vtt; charset=utf-8">>;
%% Data
from_extension(<<"json">>) -> <<"application/json">>;
from_extension(<<"map">>) -> <<"application/json">>;
from_extension(<<"jsonld">>) -> <<"application/ld+json">>;
from_extension(<<"webmanifest">>) -> <<"application/manifest+json">>;
from_extension(<<"wasm">>) -> <<"application/wasm">>;
from_extension(<<"pdf">>) -> <<"application/pdf">>;
from_extension(<<"rss">>) -> <<"application/rss+xml">>;
from_extension(<<"atom">>) -> <<"application/atom+xml">>;
from_extension(<<"xhtml">>) -> <<"application/xhtml+xml">>;
from_extension(<<"zip">>) -> <<"application/zip">>;
from_extension(<<"gz">>) -> <<"application/gzip">>;
from_extension(<<"tgz">>) -> <<"application/gzip">>;
from_extension(<<"br">>) -> <<"application/x-brotli">>;
from_extension(<<"tar">>) -> <<"application/x-tar">>;
from_extension(<<"bz2">>) -> <<"application/x-bzip2">>;
from_extension(<<"xz">>) -> <<"application/x-xz">>;
from_extension(<<"zst">>) -> <<"application/zstd">>;
from_extension(<<"7z">>) -> <<"application/x-7z-compressed">>;
from_extension(<<"bin">>) -> ?DEFAULT;
from_extension(<<"exe">>) -> ?DEFAULT;
from_extension(<<"dmg">>) -> ?DEFAULT;
from_extension(<<"iso">>) -> ?DEFAULT;
from_extension(<<"deb">>) -> <<"application/vnd.debian.binary-package">>;
from_extension(<<"apk">>) -> <<"application/vnd.android.package-archive">>;
from_extension(<<"epub">>) -> <<"application/epub+zip">>;
from_extension(<<"doc">>) -> <<"application/msword">>;
from_extension(<<"docx">>) ->
    <<"application/vnd.openxmlformats-officedocument.wordprocessingml.document">>;
from_extension(<<"xls">>) -> <<"application/vnd.ms-excel">>;
from_extension(<<"xlsx">>) -> <<"application/vnd.openxmlformats-officedocument.spreadsheetml.sheet">>;
from_extension(<<"ppt">>) -> <<"application/vnd.ms-powerpoint">>;
from_extension(<<"pptx">>) ->
    <<"application/vnd.openxmlformats-officedocument.presentationml.presentation">>;
from_extension(<<"odt">>) -> <<"application/vnd.oasis.opendocument.text">>;
from_extension(<<"ods">>) -> <<"application/vnd.oasis.opendocument.spreadsheet">>;
%% Images
from_extension(<<"png">>) -> <<"image/png">>;
from_extension(<<"jpg">>) -> <<"image/jpeg">>;
from_extension(<<"jpeg">>) -> <<"image/jpeg">>;
from_extension(<<"gif">>) -> <<"image/gif">>;
from_extension(<<"webp">>) -> <<"image/webp">>;
from_extension(<<"avif">>) -> <<"image/avif">>;
from_extension(<<"svg">>) -> <<"image/svg+xml">>;
from_extension(<<"ico">>) -> <<"image/vnd.microsoft.icon">>;
from_extension(<<"bmp">>) -> <<"image/bmp">>;
from_extension(<<"tif">>) -> <<"image/tiff">>;
from_extension(<<"tiff">>) -> <<"image/tiff">>;
from_extension(<<"apng">>) -> <<"image/apng">>;
%% Fonts
from_extension(<<"woff">>) -> <<"font/woff">>;
from_extension(<<"woff2">>) -> <<"font/woff2">>;
from_extension(<<"ttf">>) -> <<"font/ttf">>;
from_extension(<<"otf">>) -> <<"font/otf">>;
from_extension(<<"eot">>) -> <<"application/vnd.ms-fontobject">>;
%% Audio and video
from_extension(<<"mp3">>) -> <<"audio/mpeg">>;
from_extension(<<"ogg">>) -> <<"audio/ogg">>;
from_extension(<<"oga">>) -> <<"audio/ogg">>;
from_extension(<<"opus">>) -> <<"audio/ogg">>;
from_extension(<<"wav">>) -> <<"audio/wav">>;
from_extension(<<"flac">>) -> <<"audio/flac">>;
from_extension(<<"m4a">>) -> <<"audio/mp4">>;
from_extension(<<"aac">>) -> <<"audio/aac">>;
from_extension(<<"weba">>) -> <<"audio/webm">>;
from_extension(<<"mp4">>) -> <<"video/mp4">>;
from_extension(<<"m4v">>) -> <<"video/mp4">>;
from_extension(<<"webm">>) -> <<"video/webm">>;
from_extension(<<"ogv">>) -> <<"video/ogg">>;
from_extension(<<"mov">>) -> <<"video/quicktime">>;
from_extension(<<"avi">>) -> <<"video/x-msvideo">>;
from_extension(<<"mkv">>) -> <<"video/x-matroska">>;
from_extension(<<"m3u8">>) -> <<"application/vnd.apple.mpegurl">>;
from_extension(<<"ts">>) -> <<"video/mp2t">>;
from_extension(_) -> ?DEFAULT.
