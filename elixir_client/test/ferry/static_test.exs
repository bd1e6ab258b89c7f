defmodule Ferry.StaticTest do
  # The router's `static` and Ferry.Static.serve/3 against a fixture
  # directory made here: types, validators and 304s, ranges, HEAD, a gzip
  # sibling, an index, and the ways out of the directory (encoded ones and
  # symlinks included). The 200 and 206 answers go out with send_file,
  # which the Rust side must know (docs/PROTOCOL.md "Files").
  use ExUnit.Case, async: false
  import FerryTest.FilesHTTP

  @mtime 1_704_164_645
  @secret "TOP-SECRET-OUTSIDE-THE-ROOT"

  defmodule Routes do
    use Ferry.Router

    static "/assets", from: Application.fetch_env!(:ferry, :static_test_root)

    static "/site",
      from: Application.fetch_env!(:ferry, :static_test_root),
      index: "index.html",
      headers: [{"cache-control", "public, max-age=60"}]

    get "/serve/*path" do
      conn
      |> put_resp_header("x-from-route", "yes")
      |> Ferry.Static.serve(path, from: Application.fetch_env!(:ferry, :static_test_root))
    end
  end

  setup_all do
    base = Path.join(System.tmp_dir!(), "ferry-static-test-#{System.unique_integer([:positive])}")
    root = Path.join(base, "root")
    File.mkdir_p!(Path.join(root, "sub"))

    files = %{
      "hello.txt" => "hello, world\n",
      "style.css" => "body { color: teal }\n",
      "app.js" => String.duplicate("console.log('ferry');\n", 50),
      "logo.png" => <<137, "PNG\r\n", 26, "\n">>,
      "digits.txt" => "0123456789",
      "sub/index.html" => "<h1>index</h1>"
    }

    for {name, data} <- files, do: write(Path.join(root, name), data)
    write(Path.join(root, "app.js.gz"), :zlib.gzip(files["app.js"]))
    write(Path.join(base, "secret.txt"), @secret)
    File.ln_s!("../secret.txt", Path.join(root, "link_out.txt"))
    File.ln_s!(Path.join(base, "secret.txt"), Path.join(root, "abs_link.txt"))
    File.ln_s!("hello.txt", Path.join(root, "link_in.txt"))

    Application.put_env(:ferry, :static_test_root, root)

    {:ok, sup} =
      Supervisor.start_link(
        [{Ferry, name: StaticTest.HTTP, port: 0, ip: {127, 0, 0, 1}, router: Routes}],
        strategy: :one_for_one
      )

    on_exit(fn ->
      File.rm_rf!(base)
      Application.delete_env(:ferry, :static_test_root)
    end)

    _ = sup
    %{port: Ferry.port_number(StaticTest.HTTP), root: root}
  end

  defp write(path, data) do
    File.write!(path, data)
    File.touch!(path, @mtime)
  end

  defp get(ctx, path, headers \\ []), do: request(ctx.port, "GET", path, headers)

  test "content types and bodies", ctx do
    for {name, type} <- [
          {"hello.txt", "text/plain; charset=utf-8"},
          {"style.css", "text/css; charset=utf-8"},
          {"app.js", "text/javascript; charset=utf-8"},
          {"logo.png", "image/png"}
        ] do
      assert {200, %{"content-type" => ^type}, body} = get(ctx, "/assets/" <> name)
      assert body == File.read!(Path.join(ctx.root, name))
    end
  end

  test "etag and last-modified, and their 304s", ctx do
    {200, headers, "0123456789"} = get(ctx, "/assets/digits.txt")
    assert headers["last-modified"] == "Tue, 02 Jan 2024 03:04:05 GMT"
    assert headers["accept-ranges"] == "bytes"
    etag = headers["etag"]
    assert etag =~ ~r/\A"[^"]+"\z/

    assert {304, %{"etag" => ^etag}, ""} =
             get(ctx, "/assets/digits.txt", [{"if-none-match", etag}])

    assert {200, _, _} = get(ctx, "/assets/digits.txt", [{"if-none-match", ~s("stale")}])

    assert {200, _, _} =
             get(ctx, "/assets/digits.txt", [
               {"if-modified-since", "Tue, 02 Jan 2024 03:04:04 GMT"}
             ])
  end

  test "304s need no file sent", ctx do
    assert {304, headers, ""} = get(ctx, "/assets/hello.txt", [{"if-none-match", "*"}])
    assert headers["last-modified"] == "Tue, 02 Jan 2024 03:04:05 GMT"

    for date <- ["Tue, 02 Jan 2024 03:04:05 GMT", "Fri, 01 Jan 2100 00:00:00 GMT"] do
      assert {304, _, ""} = get(ctx, "/assets/hello.txt", [{"if-modified-since", date}])
    end
  end

  test "a single range is 206, one past the end 416, several the whole file", ctx do
    assert {206, %{"content-range" => "bytes 2-4/10"}, "234"} =
             get(ctx, "/assets/digits.txt", [{"range", "bytes=2-4"}])

    assert {206, _, "89"} = get(ctx, "/assets/digits.txt", [{"range", "bytes=-2"}])
    assert {200, _, "0123456789"} = get(ctx, "/assets/digits.txt", [{"range", "bytes=0-1,4-5"}])
  end

  test "an unsatisfiable range is 416", ctx do
    assert {416, %{"content-range" => "bytes */10"}, _} =
             get(ctx, "/assets/digits.txt", [{"range", "bytes=10-"}])
  end

  test "HEAD gets the head only", ctx do
    {:ok, socket} = :gen_tcp.connect(~c"127.0.0.1", ctx.port, [:binary, active: false])

    :ok =
      :gen_tcp.send(
        socket,
        "HEAD /assets/app.js HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n"
      )

    data = recv_all(socket, "")
    [head, ""] = String.split(data, "\r\n\r\n", parts: 2)
    assert head =~ "HTTP/1.1 200"
    assert head =~ "content-length: #{byte_size(File.read!(Path.join(ctx.root, "app.js")))}"
  end

  defp recv_all(socket, acc) do
    case :gen_tcp.recv(socket, 0, 15_000) do
      {:ok, data} -> recv_all(socket, acc <> data)
      {:error, :closed} -> acc
    end
  end

  test "a gzip sibling for clients that take gzip", ctx do
    gz = File.read!(Path.join(ctx.root, "app.js.gz"))

    assert {200, %{"content-encoding" => "gzip", "vary" => "accept-encoding"}, ^gz} =
             get(ctx, "/assets/app.js", [{"accept-encoding", "gzip, deflate"}])

    assert {200, headers, plain} = get(ctx, "/assets/app.js")
    refute Map.has_key?(headers, "content-encoding")
    assert plain == :zlib.gunzip(gz)
  end

  test "no way out of the directory", ctx do
    for path <- [
          "/assets/../secret.txt",
          "/assets/%2e%2e/secret.txt",
          "/assets/%2E%2E/secret.txt",
          "/assets/..%2fsecret.txt",
          "/assets/..%2Fsecret.txt",
          "/assets/..%5csecret.txt",
          "/assets/..\\secret.txt",
          "/assets/sub/../../secret.txt",
          "/assets/sub/%2e%2e/%2e%2e/secret.txt",
          "/assets/%2fetc%2fpasswd",
          "/assets/hello.txt%00.png",
          "/assets/%252e%252e/secret.txt",
          "/assets/.%2e/secret.txt",
          "/assets/link_out.txt",
          "/assets/abs_link.txt",
          "/serve/%2e%2e/secret.txt",
          "/serve/link_out.txt",
          "/site/..%2fsecret.txt"
        ] do
      {status, _, body} = get(ctx, path)
      assert status in [400, 404], "#{path}: #{status}"
      refute body =~ @secret
    end
  end

  test "a symlink inside the directory is followed", ctx do
    assert {200, _, "hello, world\n"} = get(ctx, "/assets/link_in.txt")
  end

  test "an index for directories, and a redirect to the trailing slash", ctx do
    assert {301, %{"location" => "/site/sub/"}, _} = get(ctx, "/site/sub")
    assert {301, %{"location" => "/site/sub/?x=1"}, _} = get(ctx, "/site/sub?x=1")
    assert {404, _, _} = get(ctx, "/assets/sub/")
  end

  test "the index file itself", ctx do
    assert {200, %{"content-type" => "text/html; charset=utf-8"}, "<h1>index</h1>"} =
             get(ctx, "/site/sub/")
  end

  test "headers from the options and from the route", ctx do
    assert {304, %{"cache-control" => "public, max-age=60"}, _} =
             get(ctx, "/site/hello.txt", [{"if-none-match", "*"}])

    assert {304, %{"x-from-route" => "yes"}, _} =
             get(ctx, "/serve/hello.txt", [{"if-none-match", "*"}])

    assert {404, %{"x-from-route" => "yes"}, _} = get(ctx, "/serve/nope")
  end

  test "other methods are 405 with allow", ctx do
    assert {405, %{"allow" => allow}, _} = request(ctx.port, "POST", "/assets/hello.txt", [], "x")
    assert allow =~ "GET"
  end

  test "options written in place are checked when the router compiles" do
    for {opts, message} <- [
          {quote(do: [from: 42]), "from:"},
          {quote(do: [from: "x", nope: 1]), "nope"},
          {quote(do: [index: "i.html"]), "from:"}
        ] do
      code =
        quote do
          defmodule BadStatic do
            use Ferry.Router
            static "/x", unquote(opts)
          end
        end

      error = assert_raise CompileError, fn -> Code.eval_quoted(code) end
      assert error.description =~ message
    end
  end

  test "serve/3 raises on bad options" do
    assert_raise ArgumentError, ~r/gzip/, fn ->
      Ferry.Static.serve(%Ferry.Conn{path: "/x"}, ["a"], from: "/tmp", gzip: :yes)
    end
  end
end
