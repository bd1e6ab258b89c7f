defmodule Ferry.URIRulesTest do
  # Paths and query strings follow one set of rules on both sides
  # (docs/ERLANG_API.md, "Paths and query strings"): the table the Erlang
  # tests read, ../erl/test/ferry_uri_cases.eterm, through a listener and
  # an Elixir router, and through the router alone.
  use ExUnit.Case, async: false
  import FerryTest.HTTP

  @cases_path Path.expand("../../../erl/test/ferry_uri_cases.eterm", __DIR__)
  @external_resource @cases_path

  defmodule Routes do
    use Ferry.Router

    match "/table/*segments" do
      {200, [], :erlang.term_to_binary({segments, conn.path_info, conn.query_params})}
    end
  end

  setup_all do
    start_supervised!(
      {Ferry, name: Ferry.URIRulesTest.HTTP, port: 0, ip: {127, 0, 0, 1}, router: Routes}
    )

    {:ok, cases} = :file.consult(String.to_charlist(@cases_path))
    %{port: Ferry.port_number(Ferry.URIRulesTest.HTTP), cases: cases}
  end

  defp get(port, target) do
    {head, body} =
      raw(port, "GET /table#{target} HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n", fn _ ->
        false
      end)

    case head do
      "HTTP/1.1 200 " <> _ -> {:ok, :erlang.binary_to_term(body)}
      "HTTP/1.1 400 " <> _ -> :bad_request
    end
  end

  # Elixir's query_params are the pairs in a map, a later key winning and
  # a key alone being "" (keys with [] nest, as in Plug: not in the table).
  defp params({:ok, pairs}) do
    {:ok,
     Map.new(pairs, fn
       {k, true} -> {k, ""}
       pair -> pair
     end)}
  end

  defp params(:bad_request), do: :bad_request

  # Issue 15, item 14.
  test "the paths of the table", %{port: port, cases: cases} do
    paths = for {:path, path, result} <- cases, path != "/", do: {path, result}
    assert length(paths) >= 8

    for {path, result} <- paths do
      got =
        case get(port, path) do
          {:ok, {segments, ["table" | segments], %{}}} -> {:ok, segments}
          :bad_request -> :bad_request
        end

      assert {path, got} == {path, result}
    end
  end

  test "the query strings of the table", %{port: port, cases: cases} do
    queries =
      for {:query, query, result} <- cases, not String.contains?(query, "["), do: {query, result}

    assert length(queries) >= 10

    for {query, result} <- queries do
      got =
        case get(port, "/?" <> query) do
          {:ok, {[], ["table"], params}} -> {:ok, params}
          :bad_request -> :bad_request
        end

      assert {query, got} == {query, params(result)}
    end
  end

  test "the router alone (no Erlang side) follows the same rules", %{cases: cases} do
    for {:path, path, result} <- cases do
      req = %{
        method: "GET",
        path: path,
        query: "",
        headers: [],
        peer: {{127, 0, 0, 1}, 1},
        body: ""
      }

      case {result, Routes.handle(%{req | path: "/table" <> path})} do
        {{:ok, segments}, {200, _, body}} ->
          assert {^segments, _, _} = :erlang.binary_to_term(IO.iodata_to_binary(body)), path

        {:bad_request, {400, _, _}} ->
          :ok

        {expected, got} ->
          flunk("#{path}: expected #{inspect(expected)}, got #{inspect(got)}")
      end
    end
  end
end
