defmodule Demo.Upload do
  @moduledoc """
  The upload routes of the demo: `GET /upload` is a form for several files;
  `POST /upload` takes that form (multipart, through `Ferry.Multipart`: the
  files go to temporary files as they arrive) or any other body (read part
  by part, `Demo.Body`), and answers with sizes and SHA-256s.

      curl -F 'files[]=@a.jpg' -F 'files[]=@b.pdf' http://localhost:4000/upload
  """

  import Ferry.Conn

  @doc "The form: several files and a note."
  @spec form(Ferry.Conn.t()) :: Ferry.Conn.t()
  def form(conn) do
    page = """
    <!doctype html>
    <html><head><meta charset="utf-8"><title>Ferry upload</title>
    <link rel="stylesheet" href="/static/style.css"></head>
    <body>
    <h1><img src="/static/ferry.svg" alt="">Upload files</h1>
    <form method="post" action="/upload" enctype="multipart/form-data">
      <label>Files <input type="file" name="files[]" multiple></label>
      <label>Note <input type="text" name="note"></label>
      <button>Upload</button>
    </form>
    <p>The answer lists each file's size and SHA-256; compare with <code>sha256sum</code>.</p>
    </body></html>
    """

    conn |> put_resp_header("content-type", "text/html; charset=utf-8") |> send_resp(200, page)
  end

  @doc "A multipart form's files and fields, or any other body's size and SHA-256."
  @spec post(Ferry.Conn.t()) :: Ferry.Conn.t() | {pos_integer(), binary()}
  def post(conn) do
    case get_req_header(conn, "content-type") do
      ["multipart/form-data" <> _ | _] -> form_answer(conn)
      _ -> Demo.Body.digest(conn)
    end
  end

  defp form_answer(conn) do
    case Ferry.Multipart.parse_parts(conn) do
      {:ok, parts, conn} ->
        lines =
          for {name, value} <- parts do
            case value do
              %{path: path, filename: filename, size: size} ->
                "#{name} #{filename}: #{size} bytes, sha256 #{sha256(path)}\n"

              field ->
                "#{name} = #{field}\n"
            end
          end

        conn
        |> put_resp_header("content-type", "text/plain; charset=utf-8")
        |> send_resp(200, ["received #{length(parts)} parts\n" | lines])

      {:error, {status, why}} ->
        {status, "refused: #{why}\n"}
    end
  end

  # Read back in pieces: the file may be larger than memory.
  defp sha256(path) do
    path
    |> File.stream!([], 1_048_576)
    |> Enum.reduce(:crypto.hash_init(:sha256), &:crypto.hash_update(&2, &1))
    |> :crypto.hash_final()
    |> Base.encode16(case: :lower)
  end
end
