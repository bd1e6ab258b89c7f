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

  test "builds into priv/ under _build, skips an unchanged tree, rebuilds a changed one", %{
    crate: crate,
    client: client
  } do
    in_client(client, fn ->
      {result, _output} = with_io(fn -> FerryRust.run([]) end)
      assert result == {:ok, []}
      assert {"v1\n", 0} = System.cmd(built(), [])

      assert {{:noop, []}, ""} = with_io(fn -> FerryRust.run([]) end)

      write_main(crate, ~s|fn main() { println!("v2"); }|)
      assert {{:ok, []}, _} = with_io(fn -> FerryRust.run([]) end)
      assert {"v2\n", 0} = System.cmd(built(), [])

      # Nothing in the project's source tree.
      refute File.exists?("priv")
      refute File.exists?(".ferry_build_stamp")
    end)
  end

  test "a binary replaced behind its back is installed again", %{client: client} do
    in_client(client, fn ->
      assert {{:ok, []}, _} = with_io(fn -> FerryRust.run([]) end)
      # What Mix does with a stale priv/ferry in the project's tree.
      File.write!(built(), "#!/bin/sh\necho stale\n")
      assert {{:ok, []}, _} = with_io(fn -> FerryRust.run([]) end)
      assert {"v1\n", 0} = System.cmd(built(), [])
    end)
  end

  test "as a dependency, cargo's output goes under the user's _build too", %{
    tmp_dir: tmp,
    crate: crate,
    client: client
  } do
    user_build = Path.join([tmp, "user_app", "_build"])

    in_client(client, [build_path: user_build], fn ->
      assert {{:ok, []}, _} = with_io(fn -> FerryRust.run([]) end)
      assert String.starts_with?(built(), user_build <> "/")
      assert {"v1\n", 0} = System.cmd(built(), [])
    end)

    assert File.exists?(Path.join([user_build, "ferry_cargo", "release", "ferry"]))
    refute File.exists?(Path.join(crate, "target"))
    refute File.exists?(Path.join(client, "priv"))
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
      refute File.exists?(built())
    end)
  end

  defp in_client(client, config \\ [], fun),
    do: Mix.Project.in_project(:ferry_rust_test, client, config, fn _ -> fun.() end)

  defp built, do: Path.join([Mix.Project.app_path(), "priv", "ferry"])

  defp write_main(crate, source),
    do: File.write!(Path.join([crate, "src", "main.rs"]), source <> "\n")
end
