defmodule DemoScriptTest do
  # `make run` as a user runs it: demo/demo.exs in its own VM, on the port
  # PORT names (0 here: any free one, which the banner reports).
  use ExUnit.Case, async: false
  import FerryTest.HTTP

  @moduletag timeout: 180_000

  test "demo/demo.exs prints its URLs and keeps serving after the script returns" do
    mix = System.find_executable("mix")

    vm =
      Port.open({:spawn_executable, mix}, [
        :binary,
        :exit_status,
        :stderr_to_stdout,
        args: ["run", "--no-halt", "demo/demo.exs"],
        env: [{~c"PORT", ~c"0"}, {~c"MIX_ENV", ~c"test"}]
      ])

    os_pid = Port.info(vm)[:os_pid]

    try do
      banner = read_until(vm, "Ctrl-C", "")
      [_, port] = Regex.run(~r{Ferry demo on http://localhost:(\d+)}, banner)
      port = String.to_integer(port)
      assert banner =~ "curl http://localhost:#{port}/hello/ada"
      assert banner =~ "open http://localhost:#{port}/chat"
      assert {200, _, page} = request(:get, port, "/chat")
      assert page =~ "<title>Ferry chat</title>"
      assert {200, _, "Hello from Ferry!\n"} = request(:get, port, "/hello")
      assert {200, _, "Hello, ada!\n"} = request(:get, port, "/hello/ada")
      [_, https] = Regex.run(~r{curl -k https://localhost:(\d+)/hello}, banner)
      {out, 0} = System.cmd("curl", ["-sk", "https://localhost:#{https}/hello"])
      assert out == "Hello from Ferry!\n"
    after
      # SIGTERM: the VM stops its applications, the port closes, Rust exits.
      System.cmd("kill", ["-TERM", Integer.to_string(os_pid)])
    end

    assert_receive {^vm, {:exit_status, _}}, 60_000
  end

  defp read_until(vm, marker, acc) do
    if acc =~ marker do
      acc
    else
      receive do
        {^vm, {:data, data}} -> read_until(vm, marker, acc <> data)
        {^vm, {:exit_status, status}} -> flunk("the demo exited with #{status}:\n#{acc}")
      after
        120_000 -> flunk("no banner from the demo:\n#{acc}")
      end
    end
  end
end
