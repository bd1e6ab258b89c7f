defmodule Ferry.PlugDocTest do
  # docs/PLUG.md, "Coming from Plug", is executable: the table of edits
  # turns its "before" (a Plug router) into its "after" (the Ferry one); the
  # "after" is compiled and served; every `$ curl` of "What they answer" is
  # sent to it and must print what the page says.
  use ExUnit.Case, async: false

  @doc_path Path.expand("../../docs/PLUG.md", __DIR__)
  @external_resource @doc_path

  setup_all do
    doc = File.read!(@doc_path)
    [before, after_code] = elixir_blocks(doc)

    # The "after" block is the router of this test; MyApp names are its own.
    Code.compile_string(after_code, @doc_path)

    start_supervised!(
      {Ferry, name: Ferry.PlugDocTest.HTTP, port: 0, ip: {127, 0, 0, 1}, router: MyApp.Api}
    )

    %{
      doc: doc,
      before: before,
      after_code: after_code,
      port: Ferry.port_number(Ferry.PlugDocTest.HTTP)
    }
  end

  test "the edits of the table turn the Plug router into the Ferry one", ctx do
    edits = edits(section(ctx.doc, "## The edits"))
    assert length(edits) >= 5

    edited =
      ctx.before
      |> String.split("\n")
      |> Enum.flat_map(fn line ->
        new = Enum.reduce(edits, line, fn {from, to}, line -> String.replace(line, from, to) end)
        # A line an edit emptied goes (`plug Plug.Logger`).
        if String.trim(new) == "" and String.trim(line) != "", do: [], else: [new]
      end)
      |> Enum.join("\n")

    assert edited == ctx.after_code
  end

  test "every curl of the page answers as the page says", ctx do
    examples = curls(section(ctx.doc, "## What they answer"))
    assert length(examples) >= 10

    for {command, expected} <- examples do
      {status, headers, body} = run_curl(command, ctx.port)
      check(command, expected, status, headers, body)
    end
  end

  # The two ```elixir blocks of the page: before and after.
  defp elixir_blocks(doc) do
    ~r/```elixir\n(.*?)```/s
    |> Regex.scan(doc, capture: :all_but_first)
    |> Enum.map(fn [code] -> code end)
  end

  defp section(doc, title) do
    [_, rest] = String.split(doc, title <> "\n", parts: 2)
    rest |> String.split("\n## ", parts: 2) |> hd()
  end

  # | `from` | `to` | — a "to" cell not starting with code means "nothing".
  defp edits(section) do
    for "| `" <> _ = row <- String.split(section, "\n") do
      [_, from_cell, to_cell | _] = String.split(row, "|")
      [_, from] = Regex.run(~r/\A\s*`([^`]+)`/, from_cell)

      case Regex.run(~r/\A\s*`([^`]+)`\s*\z/, to_cell) do
        [_, to] -> {from, to}
        nil -> {from, ""}
      end
    end
  end

  # [{"curl …", expected lines}]
  defp curls(section) do
    [_, block] = Regex.run(~r/```sh\n(.*?)```/s, section)

    block
    |> String.split("\n")
    |> Enum.reduce([], fn
      "$ " <> command, acc -> [{command, []} | acc]
      line, [{command, lines} | acc] -> [{command, [line | lines]} | acc]
    end)
    |> Enum.map(fn {command, lines} -> {command, lines |> Enum.reverse() |> drop_last_empty()} end)
    |> Enum.reverse()
  end

  defp drop_last_empty(lines) do
    case List.last(lines) do
      "" -> Enum.drop(lines, -1)
      _ -> lines
    end
  end

  # The curl options the page uses: -s, -i, -X, -H, -d.
  defp run_curl(command, port) do
    ["curl" | args] = OptionParser.split(command)
    {method, headers, body, url} = curl_args(args, {nil, [], nil, nil})
    url = String.replace(url, "localhost:4000", "127.0.0.1:#{port}")

    headers =
      if body != nil and not List.keymember?(headers, "content-type", 0),
        do: [{"content-type", "application/x-www-form-urlencoded"} | headers],
        else: headers

    method = method || if(body, do: "POST", else: "GET")
    {content_type, headers} = List.keytake(headers, "content-type", 0) |> split_type(headers)
    charlist_headers = for {k, v} <- headers, do: {String.to_charlist(k), String.to_charlist(v)}
    url = String.to_charlist("http://" <> url)

    request =
      if body || method in ["POST", "PUT", "PATCH"],
        do: {url, charlist_headers, String.to_charlist(content_type || ""), body || ""},
        else: {url, charlist_headers}

    method = method |> String.downcase() |> String.to_atom()

    {:ok, {{_, status, _}, resp_headers, resp_body}} =
      :httpc.request(method, request, [timeout: 30_000, autoredirect: false], body_format: :binary)

    {status, for({k, v} <- resp_headers, do: {List.to_string(k), List.to_string(v)}), resp_body}
  end

  defp split_type(nil, headers), do: {nil, headers}
  defp split_type({{"content-type", type}, rest}, _headers), do: {type, rest}

  defp curl_args([], acc), do: acc
  defp curl_args(["-s" | rest], acc), do: curl_args(rest, acc)
  defp curl_args(["-si" | rest], acc), do: curl_args(rest, acc)
  defp curl_args(["-X", method | rest], {_, h, b, u}), do: curl_args(rest, {method, h, b, u})
  defp curl_args(["-d", body | rest], {m, h, _, u}), do: curl_args(rest, {m, h, body, u})

  defp curl_args(["-H", header | rest], {m, h, b, u}) do
    [name, value] = String.split(header, ":", parts: 2)
    curl_args(rest, {m, h ++ [{String.downcase(name), String.trim(value)}], b, u})
  end

  defp curl_args([url | rest], {m, h, b, nil}), do: curl_args(rest, {m, h, b, url})

  # -s prints the body; -si the status line, then the headers the page
  # lists (a subset; `…` stands for anything), a blank line and the body.
  defp check(command, expected, status, headers, body) do
    if String.contains?(command, " -si ") do
      [status_line | rest] = expected
      {listed, ["" | body_lines]} = Enum.split_while(rest, &(&1 != ""))
      phrase = Ferry.Conn.Status.reason_phrase(status)
      assert status_line == "HTTP/1.1 #{status} #{phrase}", "#{command}: status #{status}"

      for line <- listed do
        [name, value] = String.split(line, ": ", parts: 2)
        pattern = ~r/\A#{value |> Regex.escape() |> String.replace("…", ".*")}\z/
        values = for {^name, v} <- headers, do: v

        assert Enum.any?(values, &(&1 =~ pattern)),
               "#{command}: no #{name} like #{inspect(value)} in #{inspect(headers)}"
      end

      assert body == Enum.join(body_lines, "\n") <> "\n", "#{command}: body #{inspect(body)}"
    else
      assert status in 200..299, "#{command}: status #{status}"
      assert body == Enum.join(expected, "\n") <> "\n", "#{command}: body #{inspect(body)}"
    end
  end
end
