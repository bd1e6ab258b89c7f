defmodule Ferry.RouterChecksTest do
  # Routers that cannot mean what they say are refused (or warned about)
  # when they compile, not found out by a request.
  use ExUnit.Case, async: true
  import ExUnit.CaptureIO

  defp compile(body) do
    name = "Ferry.RouterChecksTest.R#{System.unique_integer([:positive])}"

    Code.compile_string("""
    defmodule #{name} do
      use Ferry.Router
    #{body}
    end
    """)
  end

  # Issue 15, item 13.
  test "a path that binds a name twice does not compile" do
    assert_raise CompileError, ~r/:id is bound twice in "\/a\/:id\/b\/:id"/, fn ->
      compile(~s(get "/a/:id/b/:id", do: id))
    end

    assert_raise CompileError, ~r/:rest is bound twice/, fn ->
      compile(~s(get "/a/:rest/*rest", do: "x"))
    end
  end

  test "routes after match _ are unreachable: a warning says so" do
    warnings =
      capture_io(:stderr, fn ->
        compile("""
          get "/", do: "root"
          match _, do: "everything"
          get "/never", do: "never"
          post "/never", do: "never"
        """)
      end)

    assert warnings =~ ~s(route GET /never is unreachable: match _ above takes every request)
    assert warnings =~ ~s(route POST /never is unreachable)
    refute warnings =~ "GET / is unreachable"
  end

  test "forward and to: name a module that exists, or do not compile" do
    assert_raise CompileError,
                 ~r/forward to: Ferry.RouterChecksTest.NoSuchRouter is not an available module/,
                 fn ->
                   compile(~s(forward "/api", to: Ferry.RouterChecksTest.NoSuchRouter))
                 end

    assert_raise CompileError,
                 ~r/to: Ferry.RouterChecksTest.NoSuchPlug is not an available module/,
                 fn ->
                   compile(~s(get "/x", to: Ferry.RouterChecksTest.NoSuchPlug))
                 end

    assert_raise CompileError, ~r/forward to: String must define init\/1 and call\/2/, fn ->
      compile(~s(forward "/api", to: String))
    end
  end
end
