defmodule Ferry.Static do
  @moduledoc """
  Serves the files of a directory, in the manner of `Plug.Static`. In a
  `Ferry.Router`:

      static "/assets", from: "priv/static"
      static "/docs", from: {:my_app, "priv/docs"}, index: "index.html"

  answers `GET` and `HEAD` under the prefix with the file the rest of the
  path names under `from`. The bytes go out with `Ferry.Conn.send_file/5`:
  they never enter the BEAM. `serve/3` does the same from inside any route.

  What the responses carry (the Erlang handler `ferry_static` does the work,
  see `docs/ERLANG_API.md`):

    * `content-type` by extension, from a built-in table of the common
      types (`ferry_mime`),
    * `etag` (from size and mtime) and `last-modified`; `if-none-match` and
      `if-modified-since` give `304`,
    * one `range` gives `206` with `content-range` (`416` when it starts
      past the end; several ranges give the whole file),
    * a precompressed `file.br` or `file.gz` next to the file, when the
      client's `accept-encoding` takes it, with `content-encoding` and
      `vary: accept-encoding`.

  A path can never leave `from`: a `.` or `..` segment, or one holding `/`,
  `\\` or NUL once percent-decoded (`%2e%2e`, `%2f`, `%5c`, `%00`) is `400`;
  a symlink that leads out of the directory is `404` (unless
  `outside_symlinks: true`), as is anything but a regular file.

  Options:

    * `:from` (required) — the directory: a path (relative to the working
      directory), or `{app, path}` for a directory of an application
      (`Application.app_dir/2`).
    * `:index` — a file served for a directory, such as `"index.html"`; a
      directory asked for without its trailing slash is redirected to it.
      Defaults to none: a directory is `404`.
    * `:gzip`, `:brotli` — serve `.gz` / `.br` siblings. Default `true`.
    * `:outside_symlinks` — follow symlinks that lead out of `:from`.
      Default `false`.
    * `:headers` — added to every file response, such as
      `[{"cache-control", "public, max-age=3600"}]`.
    * `:mime_types` — extra types by extension (without the dot,
      lowercase), such as `%{"gltf" => "model/gltf+json"}`.

  The defaults are the Erlang side's (`ferry_opts:file_defaults(static)`).
  """

  alias Ferry.Conn

  @keys [:from, :index, :gzip, :brotli, :outside_symlinks, :headers, :mime_types]

  @doc """
  Answers `conn` with the file that `segments` (path segments, as a
  `*glob` binds them) name under `opts[:from]`; returns the answered conn.
  Headers the route set before are sent too.

      get "/downloads/*file" do
        conn
        |> put_resp_header("content-disposition", "attachment")
        |> Ferry.Static.serve(file, from: "/srv/downloads")
      end
  """
  @spec serve(Conn.t(), [binary()], keyword()) :: Conn.t()
  def serve(%Conn{} = conn, segments, opts) when is_list(segments) do
    erl_opts = opts |> validate!() |> to_erlang(conn.resp_headers)
    # A trailing slash means a directory; the router's path_info drops it.
    slash = if String.ends_with?(conn.path, "/"), do: [""], else: []
    req = Map.put(conn.req, :path_info, segments ++ slash)

    case :ferry_static.handle(req, erl_opts) do
      {:done, req} ->
        %{conn | req: req, state: :sent}

      {status, headers, body} ->
        headers
        |> Enum.reduce(conn, fn {name, value}, conn -> Conn.put_resp_header(conn, name, value) end)
        |> Conn.send_resp(status, body)
    end
  end

  @doc """
  Checks the options of `serve/3` and of the router's `static` macro;
  raises `ArgumentError` naming a wrong one. Returns them.
  """
  @spec validate!(keyword()) :: keyword()
  def validate!(opts) do
    unless Keyword.keyword?(opts) do
      raise ArgumentError, "static expects a keyword list of options, got: #{inspect(opts)}"
    end

    case Keyword.keys(opts) -- @keys do
      [] ->
        :ok

      unknown ->
        raise ArgumentError,
              "unknown static option(s) #{inspect(unknown)}; known: #{inspect(@keys)}"
    end

    case Keyword.fetch(opts, :from) do
      {:ok, from} when is_binary(from) -> :ok
      {:ok, {app, path}} when is_atom(app) and is_binary(path) -> :ok
      _ -> raise ArgumentError, "static needs from: a directory (a path, or {app, path})"
    end

    opts
  end

  defp to_erlang(opts, resp_headers) do
    dir =
      case Keyword.fetch!(opts, :from) do
        {app, path} -> Application.app_dir(app, path)
        path -> path
      end

    opts
    |> Keyword.delete(:from)
    |> Keyword.update(:index, :undefined, &(&1 || :undefined))
    |> Keyword.update(:headers, resp_headers, &(Enum.to_list(&1) ++ resp_headers))
    |> Map.new()
    |> Map.put(:dir, dir)
    |> :ferry_static.init()
  rescue
    error in ErlangError ->
      case error.original do
        {:bad_option, key} -> raise ArgumentError, "bad static option #{inspect(key)}"
        _ -> reraise error, __STACKTRACE__
      end
  end
end
