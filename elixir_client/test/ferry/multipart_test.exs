defmodule Ferry.MultipartTest do
  # Ferry.Multipart through a real listener: curl -F with several files and
  # fields, Plug-style params, the part-by-part API, malformed bodies and
  # limits (nothing left on disk), and temporary files removed after a
  # normal end, a crash and a client that leaves. Each test has its own
  # tmp_dir, named in the query, so what is left there is that test's.
  use ExUnit.Case, async: false
  import ExUnit.CaptureLog
  import FerryTest.FilesHTTP
  import FerryTest.HTTP, only: [eventually: 1]

  defmodule Routes do
    use Ferry.Router

    post "/params" do
      case Ferry.Multipart.parse(conn, opts(conn)) do
        {:ok, params, conn} -> send_resp(conn, 200, :erlang.term_to_binary(with_sha(params)))
        {:error, {status, why}} -> {status, Atom.to_string(why)}
      end
    end

    post "/crash" do
      {:ok, _params, _conn} = Ferry.Multipart.parse(conn, opts(conn))
      raise "crash after the upload, on purpose"
    end

    post "/keep" do
      {:ok, %{"f" => %{path: path}}, conn} = Ferry.Multipart.parse(conn, opts(conn))
      moved = path <> ".moved"
      File.rename!(path, moved)
      send_resp(conn, 200, moved)
    end

    post "/parts" do
      {:ok, headers, conn} = Ferry.Multipart.read_part(conn, opts(conn))
      {:file, "f", "a.txt", "application/octet-stream"} = Ferry.Multipart.form_data(headers)
      {body, conn} = all_body(conn, [])
      {:ok, _headers, conn} = Ferry.Multipart.read_part(conn)
      {:done, conn} = Ferry.Multipart.read_part(conn)
      send_resp(conn, 200, body)
    end

    defp all_body(conn, acc) do
      case Ferry.Multipart.read_part_body(conn, length: 10) do
        {:more, data, conn} -> all_body(conn, [acc, data, "|"])
        {:ok, data, conn} -> {IO.iodata_to_binary([acc, data]), conn}
      end
    end

    defp opts(conn) do
      for {k, v} <- conn.query_params do
        case k do
          "tmp" -> {:tmp_dir, v}
          key -> {String.to_existing_atom(key), String.to_integer(v)}
        end
      end
    end

    defp with_sha(params) do
      Map.new(params, fn
        {k, %{path: path} = upload} ->
          {k, Map.put(upload, :sha256, :crypto.hash(:sha256, File.read!(path)))}

        {k, list} when is_list(list) ->
          {k, Enum.map(list, &Map.put(&1, :sha256, :crypto.hash(:sha256, File.read!(&1.path))))}

        pair ->
          pair
      end)
    end
  end

  setup_all do
    {:ok, _} =
      Supervisor.start_link(
        [{Ferry, name: MultipartTest.HTTP, port: 0, ip: {127, 0, 0, 1}, router: Routes}],
        strategy: :one_for_one
      )

    %{port: Ferry.port_number(MultipartTest.HTTP)}
  end

  setup ctx do
    tmp =
      Path.join(System.tmp_dir!(), "ferry-multipart-test-#{System.unique_integer([:positive])}")

    File.mkdir_p!(tmp)
    on_exit(fn -> File.rm_rf!(tmp) end)
    Map.put(ctx, :tmp, tmp)
  end

  defp post(ctx, path, body, limits \\ []) do
    query = Enum.map_join(limits, "", fn {k, v} -> "&#{k}=#{v}" end)

    request(
      ctx.port,
      "POST",
      "#{path}?tmp=#{ctx.tmp}#{query}",
      [{"content-type", "multipart/form-data; boundary=B"}],
      IO.iodata_to_binary(multipart(body))
    )
  end

  defp cleaned?(ctx), do: eventually(fn -> File.ls!(ctx.tmp) == [] end)

  test "curl -F: several files and fields", ctx do
    a = :crypto.strong_rand_bytes(200_000)
    path_a = Path.join(System.tmp_dir!(), "ferry-mp-a-#{System.unique_integer([:positive])}.bin")
    File.write!(path_a, a)
    on_exit(fn -> File.rm(path_a) end)

    {out, 0} =
      System.cmd("curl", [
        "-sS",
        "-F",
        "title=hello ferry",
        "-F",
        "files[]=@#{path_a}",
        "-F",
        "files[]=@#{path_a};filename=second.bin;type=image/png",
        "-F",
        "note=<#{path_a}",
        "http://127.0.0.1:#{ctx.port}/params?tmp=#{ctx.tmp}&max_field=300000"
      ])

    params = :erlang.binary_to_term(out)
    sha = :crypto.hash(:sha256, a)
    assert %{"title" => "hello ferry", "note" => ^a, "files" => [first, second]} = params
    assert %{size: 200_000, sha256: ^sha, content_type: "application/octet-stream"} = first
    assert Path.basename(path_a) == first.filename
    assert %{filename: "second.bin", content_type: "image/png", sha256: ^sha} = second
    assert Path.dirname(first.path) == ctx.tmp
    assert cleaned?(ctx)
  end

  test "parts one by one", ctx do
    data = String.duplicate("0123456789", 3)

    assert {200, _, body} = post(ctx, "/parts", [{"f", "a.txt", data}, {"g", "x"}])
    assert String.replace(body, "|", "") == data
    assert body =~ "|"
  end

  test "a malformed body is 400, and nothing stays on disk", ctx do
    for body <- [
          "--B\r\nno colon\r\n\r\nx\r\n--B--\r\n",
          [
            "--B\r\ncontent-disposition: form-data; name=\"f\"; filename=\"f\"\r\n\r\n",
            String.duplicate("y", 100_000),
            "\r\n--Bjunk\r\n"
          ],
          "--B\r\ncontent-disposition: attachment\r\n\r\nx\r\n--B--\r\n"
        ] do
      assert {400, _, _} =
               request(
                 ctx.port,
                 "POST",
                 "/params?tmp=#{ctx.tmp}",
                 [{"content-type", "multipart/form-data; boundary=B"}],
                 IO.iodata_to_binary(body)
               )
    end

    assert {415, _, "not_multipart"} =
             request(
               ctx.port,
               "POST",
               "/params?tmp=#{ctx.tmp}",
               [{"content-type", "text/plain"}],
               "x"
             )

    assert cleaned?(ctx)
  end

  test "too many parts is 413", ctx do
    files = for i <- 1..4, do: {"f#{i}", "f#{i}", "data"}
    assert {200, _, _} = post(ctx, "/params", files, max_parts: 4)
    assert {413, _, "too_many_parts"} = post(ctx, "/params", files, max_parts: 3)
    assert cleaned?(ctx)
  end

  test "an oversized file part is 413, and nothing stays on disk", ctx do
    body = [{"ok", "ok", "fine"}, {"big", "big", String.duplicate("z", 50_001)}]
    assert {413, _, "file_too_large"} = post(ctx, "/params", body, max_file: 50_000)
    assert {200, _, _} = post(ctx, "/params", body, max_file: 50_001)
    assert cleaned?(ctx)
  end

  test "temporary files are removed when the route crashes", ctx do
    log =
      capture_log(fn ->
        assert {500, _, _} = post(ctx, "/crash", [{"f", "f", "crash"}])
      end)

    assert log =~ "on purpose"
    assert cleaned?(ctx)
  end

  test "a moved file stays", ctx do
    assert {200, _, moved} = post(ctx, "/keep", [{"f", "f", "keep me"}])
    assert eventually(fn -> File.ls!(ctx.tmp) == [Path.basename(moved)] end)
    assert File.read!(moved) == "keep me"
  end

  test "temporary files are removed when the client goes away", ctx do
    {:ok, socket} = :gen_tcp.connect(~c"127.0.0.1", ctx.port, [:binary, active: false])

    :ok =
      :gen_tcp.send(socket, [
        "POST /params?tmp=#{ctx.tmp} HTTP/1.1\r\nhost: x\r\n",
        "content-type: multipart/form-data; boundary=B\r\ncontent-length: 10000000\r\n\r\n",
        "--B\r\ncontent-disposition: form-data; name=\"f\"; filename=\"f\"\r\n\r\n",
        String.duplicate("h", 500_000)
      ])

    assert eventually(fn -> File.ls!(ctx.tmp) != [] end)
    :ok = :gen_tcp.close(socket)
    assert cleaned?(ctx)
  end
end
