defmodule Ferry.FilesTest do
  # Ferry.Conn.send_file/5 and read_body_to_file/2 through a real listener.
  # Sending a file and writing a streamed body need the Rust side's
  # send_file and body_to_file (docs/PROTOCOL.md "Files"); the errors raised
  # in the route and inline bodies do not.
  use ExUnit.Case, async: false
  import FerryTest.FilesHTTP

  defmodule Routes do
    use Ferry.Router

    get "/file/:name" do
      path = Path.join(Application.fetch_env!(:ferry, :files_test_dir), name)
      offset = String.to_integer(conn.query_params["offset"] || "0")

      length =
        case conn.query_params["length"] do
          nil -> :all
          n -> String.to_integer(n)
        end

      try do
        conn
        |> put_resp_header("content-type", "text/plain")
        |> send_file(200, path, offset, length)
      rescue
        error in File.Error -> {404, Exception.message(error)}
      end
    end

    post "/to_file" do
      {:ok, %{path: path, bytes: bytes, sha256: sha}, conn} =
        read_body_to_file(conn, digest: :sha256)

      send_resp(
        conn,
        200,
        :erlang.term_to_binary({bytes, sha, :crypto.hash(:sha256, File.read!(path))})
      )
    end
  end

  setup_all do
    dir = Path.join(System.tmp_dir!(), "ferry-files-test-#{System.unique_integer([:positive])}")
    File.mkdir_p!(dir)
    File.write!(Path.join(dir, "digits.txt"), "0123456789")
    Application.put_env(:ferry, :files_test_dir, dir)

    {:ok, _} =
      Supervisor.start_link(
        [{Ferry, name: FilesTest.HTTP, port: 0, ip: {127, 0, 0, 1}, router: Routes}],
        strategy: :one_for_one
      )

    on_exit(fn -> File.rm_rf!(dir) end)
    %{port: Ferry.port_number(FilesTest.HTTP)}
  end

  test "send_file: the whole file, and a slice", %{port: port} do
    assert {200, %{"content-length" => "10", "content-type" => "text/plain"}, "0123456789"} =
             request(port, "GET", "/file/digits.txt")

    assert {200, _, "345"} = request(port, "GET", "/file/digits.txt?offset=3&length=3")
    assert {200, _, "89"} = request(port, "GET", "/file/digits.txt?offset=8")
  end

  test "send_file: a missing file raises File.Error in the route", %{port: port} do
    assert {404, _, message} = request(port, "GET", "/file/nope.txt")
    assert message =~ "could not send file"
    assert message =~ "no such file or directory"
    assert {404, _, _} = request(port, "GET", "/file/digits.txt?offset=11")
  end

  test "read_body_to_file: an inline body", %{port: port} do
    body = "small enough to come with the request"
    sha = :crypto.hash(:sha256, body)
    assert {200, _, answer} = request(port, "POST", "/to_file", [], body)
    assert {byte_size(body), sha, sha} == :erlang.binary_to_term(answer)
  end

  test "read_body_to_file: a streamed body", %{port: port} do
    body = :crypto.strong_rand_bytes(3_000_000)
    sha = :crypto.hash(:sha256, body)
    assert {200, _, answer} = request(port, "POST", "/to_file", [], body)
    assert {3_000_000, sha, sha} == :erlang.binary_to_term(answer)
  end
end
