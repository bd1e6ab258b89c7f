defmodule Ferry.JSONTest do
  # The codec alone; Ferry.Parsers through a listener is in plug_test.exs.
  use ExUnit.Case, async: true

  alias Ferry.JSON

  test "every JSON type decodes" do
    text =
      ~s({"s": "x\\u00e9\\ud83d\\ude00\\n\\"\\\\\\/\\b\\f\\r\\t", "n": [0, -0, 12, -3.5, 1e3, 1.5E-2, 2E+2],
              "b": [true, false, null], "o": {"e": {}, "a": []}})

    assert JSON.decode(text) ==
             {:ok,
              %{
                "s" => "xé😀\n\"\\/\b\f\r\t",
                "n" => [0, 0, 12, -3.5, 1000.0, 0.015, 200.0],
                "b" => [true, false, nil],
                "o" => %{"e" => %{}, "a" => []}
              }}
  end

  test "any value may be the top level, with white space around it" do
    assert JSON.decode(" \t\r\n 7 \n") == {:ok, 7}
    assert JSON.decode(~s("a")) == {:ok, "a"}
    assert JSON.decode("null") == {:ok, nil}

    assert JSON.decode(String.duplicate("9", 100)) ==
             {:ok, String.to_integer(String.duplicate("9", 100))}
  end

  test "object keys stay strings, and a repeated key keeps its last value" do
    assert JSON.decode(~s({"a": 1, "a": 2, "__struct__": "x"})) ==
             {:ok, %{"a" => 2, "__struct__" => "x"}}
  end

  # {input, what the error says}
  @refused [
    {"", "unexpected end of input"},
    {"[1,]", "unexpected character"},
    {~s({"a":1,}), "expected a string key"},
    {"{a:1}", "expected a string key or }"},
    {"{'a':1}", "expected a string key or }"},
    {~s({"a" 1}), "expected : after an object key"},
    {"[1 2]", "expected , or ] in an array"},
    {"01", "unexpected data after the JSON value"},
    {"1.", "unexpected data after the JSON value"},
    {".5", "unexpected character"},
    {"-", "malformed number"},
    {"+1", "unexpected character"},
    {"NaN", "unexpected character"},
    {"1e400", "number out of range"},
    {String.duplicate("1", 101), "number longer than 100 characters"},
    {"tru", "unexpected character"},
    {"[1] x", "unexpected data after the JSON value"},
    {"[1] // comment", "unexpected data after the JSON value"},
    {~s("a\tb"), "control character in a string"},
    {~s("abc), "unterminated string"},
    {~s("\\x"), "unknown escape in a string"},
    {~s("\\u12"), "\\u needs four hex digits"},
    {~s("\\ud800"), "lone surrogate"},
    {~s("\\udc00"), "lone surrogate"},
    {~s("\\ud800\\u0041"), "lone surrogate"},
    {<<?", 0xFF, ?">>, "invalid UTF-8"},
    {<<?", 0xC0, 0x80, ?">>, "invalid UTF-8"},
    {<<?", 0xED, 0xA0, 0x80, ?">>, "invalid UTF-8"},
    {String.duplicate("[", 1001) <> String.duplicate("]", 1001), "nesting deeper than 1000"}
  ]

  test "what is not strict JSON is refused, saying what and where" do
    for {input, why} <- @refused do
      assert {:error, %JSON.DecodeError{message: message, position: position}} =
               JSON.decode(input),
             "#{inspect(input)} was accepted"

      assert message =~ why, "#{inspect(input)}: #{message}"
      assert is_integer(position) and position in 0..byte_size(input)
    end

    assert {:ok, _} = JSON.decode(String.duplicate("[", 1000) <> String.duplicate("]", 1000))
    assert_raise JSON.DecodeError, ~r/at byte 3/, fn -> JSON.decode!("[1,]") end
  end

  test "encoding" do
    assert JSON.encode!(%{a: [1, 2.5, nil, true, false, :x]}) ==
             ~s({"a":[1,2.5,null,true,false,"x"]})

    assert JSON.encode!("q\"\\\n\r\t\b\f\u0001é/") == ~s("q\\"\\\\\\n\\r\\t\\b\\f\\u0001é/")

    assert JSON.encode!(%{1 => ~D[2024-01-02], "t" => ~U[2024-01-02 03:04:05Z]}) ==
             ~s({"1":"2024-01-02","t":"2024-01-02T03:04:05Z"})

    assert IO.iodata_to_binary(JSON.encode_to_iodata!([])) == "[]"
  end

  test "what has no JSON form is refused" do
    for bad <- [{1, 2}, self(), <<0xFF>>, %URI{}, %{{1} => 2}, make_ref()] do
      assert_raise ArgumentError, fn -> JSON.encode!(bad) end
    end
  end

  test "what it encodes, it decodes back" do
    value = %{
      "s" => "a\u0000b\u001f\"\\é😀",
      "l" => [1, -2, 3.25, [], %{}],
      "t" => true,
      "n" => nil
    }

    assert value |> JSON.encode!() |> JSON.decode() == {:ok, value}
  end
end
