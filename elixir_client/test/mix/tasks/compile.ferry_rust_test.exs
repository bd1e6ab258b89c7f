defmodule Mix.Tasks.Compile.FerryRustTest do
  # Runs the compiler on a throw-away crate named `ferry`, in a throw-away
  # Mix project, with the real cargo.
  use ExUnit.Case, async: false
  import ExUnit.CaptureIO

  alias Mix.Tasks.Compile.FerryRust

  @moduletag :tmp_dir

  setup %{tmp_dir: tmp} do
    crate = Path.join(tmp, "crate")
    File.mkdir_p!(Path.join(crate, "src"))

    File.write!(Path.join(crate, "Cargo.toml"), """
    [package]
    name = "ferry"
    version = "0.1.0"
    edition = "2021"
    """)

    File.write!(Path.join(crate, "Cargo.lock"), """
    version = 4

    [[package]]
    name = "ferry"
    version = "0.1.0"
    """)

    write_main(crate, ~s|fn main() { println!("v1"); }|)

    client = Path.join(tmp, "client")
    File.mkdir_p!(client)

    File.write!(Path.join(client, "mix.exs"), """
    defmodule FerryRustTest.MixProject do
      use Mix.Project
      def project, do: [app: :ferry_rust_test, version: "0.1.0", ferry_rust: [root: "../crate"]]
    end
    """)

    %{crate: crate, client: client}
  end

  test "builds into priv/, skips an unchanged tree, rebuilds a changed one", %{
    crate: crate,
    client: client
  } do
    in_client(client, fn ->
      {result, _output} = with_io(fn -> FerryRust.run([]) end)
      assert result == {:ok, []}
      assert {"v1\n", 0} = System.cmd(Path.expand("priv/ferry"), [])

      assert {{:noop, []}, ""} = with_io(fn -> FerryRust.run([]) end)

      write_main(crate, ~s|fn main() { println!("v2"); }|)
      assert {{:ok, []}, _} = with_io(fn -> FerryRust.run([]) end)
      assert {"v2\n", 0} = System.cmd(Path.expand("priv/ferry"), [])
    end)
  end

  test "a failed build fails the compile and shows cargo's errors", %{
    crate: crate,
    client: client
  } do
    write_main(crate, ~s|fn main() { let x: u32 = "not a number"; }|)

    in_client(client, fn ->
      {result, output} = with_io(fn -> FerryRust.run([]) end)

      assert {:error,
              [%Mix.Task.Compiler.Diagnostic{severity: :error, compiler_name: "ferry_rust"}]} =
               result

      assert output =~ "mismatched types"
      refute File.exists?("priv/ferry")
    end)
  end

  defp in_client(client, fun),
    do: Mix.Project.in_project(:ferry_rust_test, client, fn _ -> fun.() end)

  defp write_main(crate, source),
    do: File.write!(Path.join([crate, "src", "main.rs"]), source <> "\n")
end
