defmodule Ferry.Multipart do
  @moduledoc """
  `multipart/form-data` request bodies (HTML forms with file inputs), read
  as they stream in, in the manner of `Plug.Parsers.MULTIPART`:

      post "/upload" do
        case Ferry.Multipart.parse(conn) do
          {:ok, params, conn} ->
            %{"title" => title, "file" => %{path: path, filename: name, size: size}} = params
            File.rename!(path, Path.join("uploads", Path.basename(name)))
            send_resp(conn, 201, "\#{title}: \#{size} bytes")

          {:error, {status, why}} ->
            {status, "bad form: \#{why}"}
        end
      end

  Fields are kept in memory; each file part is written to a temporary file
  as it arrives (memory stays bounded whatever its size) and comes back as
  a map `%{path: path, filename: filename, content_type: type | nil,
  size: bytes}`. Temporary files are removed when the route's process ends,
  however it ends, unless the route moved them (`File.rename/2`) or called
  `:ferry_tmp.keep(path)`.

  Errors carry the status to answer with: `{415, :not_multipart}`, `{400,
  why}` for a malformed body, `{413, why}` over a limit, `{500, :tmp_file}`
  when a temporary file cannot be written; then no file of the form is
  left on disk.

  Options (defaults in `ferry_opts:file_defaults(multipart)`):

    * `:max_parts` — parts in the form.
    * `:max_header_bytes` — bytes of one part's header block.
    * `:max_field` — bytes of one field kept in memory.
    * `:max_file` — bytes of one file (`:infinity` allowed).
    * `:max_total` — bytes of the whole body (`:infinity` allowed; the
      listener's `:max_body` applies too).
    * `:tmp_dir` — where temporary files go (default `$TMPDIR`, else `/tmp`).
    * `:read_length` — bytes read from the body per step.

  `read_part/2` and `read_part_body/2` read the parts one by one, for a
  route that wants to stream them somewhere itself.
  """

  alias Ferry.Conn

  @typedoc "A file part, written to the temporary file at `path`."
  @type upload :: %{
          path: binary(),
          filename: binary(),
          content_type: binary() | nil,
          size: non_neg_integer()
        }

  @typedoc "Why a form was refused, and the status to answer with."
  @type error :: {400 | 413 | 415 | 500, atom()}

  @doc """
  Reads the whole form into a map, `Plug`-style: a name repeated keeps its
  last value, unless it ends with `[]` (`"files[]"`), which collects every
  value in a list under the name without the brackets (`"files"`).
  """
  @spec parse(Conn.t(), keyword()) ::
          {:ok, %{optional(binary()) => binary() | upload() | [binary() | upload()]}, Conn.t()}
          | {:error, error()}
  def parse(%Conn{} = conn, opts \\ []) do
    with {:ok, parts, conn} <- parse_parts(conn, opts) do
      {:ok, to_params(parts), conn}
    end
  end

  @doc """
  Reads the whole form as its parts, in order: `[{name, value}]`, where a
  file's value is an `t:upload/0`. A file input left empty is skipped.
  """
  @spec parse_parts(Conn.t(), keyword()) ::
          {:ok, [{binary(), binary() | upload()}], Conn.t()} | {:error, error()}
  def parse_parts(%Conn{} = conn, opts \\ []) do
    case :ferry_multipart.read_form(conn.req, Map.new(opts)) do
      {:ok, parts, req} -> {:ok, Enum.map(parts, &from_erlang/1), %{conn | req: req}}
      {:error, _} = error -> error
    end
  end

  @doc """
  The headers of the next part (`[{name, value}]`, names lowercase), or
  `:done` after the last; the rest of the current part is skipped. Options
  as for `parse/2`, taken at the first call.

      {:ok, headers, conn} = read_part(conn)
      {:ok, body, conn} = read_part_body(conn)
  """
  @spec read_part(Conn.t(), keyword()) ::
          {:ok, [{binary(), binary()}], Conn.t()} | {:done, Conn.t()} | {:error, error()}
  def read_part(%Conn{} = conn, opts \\ []) do
    case :ferry_multipart.read_part(conn.req, Map.new(opts)) do
      {:ok, headers, req} -> {:ok, headers, %{conn | req: req}}
      {:done, req} -> {:done, %{conn | req: req}}
      {:error, _} = error -> error
    end
  end

  @doc """
  The body of the current part: `{:more, data, conn}` each time at least
  `:length` bytes came (default `:read_length`), `{:ok, data, conn}` with
  its end.
  """
  @spec read_part_body(Conn.t(), keyword()) ::
          {:ok | :more, binary(), Conn.t()} | {:error, error()}
  def read_part_body(%Conn{} = conn, opts \\ []) do
    case :ferry_multipart.read_part_body(conn.req, Map.new(opts)) do
      {tag, data, req} -> {tag, data, %{conn | req: req}}
      {:error, _} = error -> error
    end
  end

  @doc """
  What a part is, from its headers: `{:field, name}`, `{:file, name,
  filename, content_type | nil}`, or `:error` without a valid
  `content-disposition: form-data; name=...`.
  """
  @spec form_data([{binary(), binary()}]) ::
          {:field, binary()} | {:file, binary(), binary(), binary() | nil} | :error
  def form_data(headers) do
    case :ferry_multipart_parser.form_data(headers) do
      {:data, name} -> {:field, name}
      {:file, name, filename, type} -> {:file, name, filename, nil_if_undefined(type)}
      :error -> :error
    end
  end

  defp from_erlang({name, %{path: _} = upload}),
    do: {name, %{upload | content_type: nil_if_undefined(upload.content_type)}}

  defp from_erlang({name, value}), do: {name, value}

  defp nil_if_undefined(:undefined), do: nil
  defp nil_if_undefined(value), do: value

  defp to_params(parts) do
    parts
    |> Enum.reduce(%{}, fn {name, value}, params ->
      case String.split_at(name, -2) do
        {list, "[]"} -> Map.update(params, list, [value], &[value | &1])
        _ -> Map.put(params, name, value)
      end
    end)
    |> Map.new(fn
      {name, values} when is_list(values) -> {name, Enum.reverse(values)}
      pair -> pair
    end)
  end
end
