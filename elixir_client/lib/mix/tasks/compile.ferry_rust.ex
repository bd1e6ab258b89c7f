defmodule Mix.Tasks.Compile.FerryRust do
  @shortdoc "Builds the Rust port program into the application's priv/ under _build"

  @moduledoc """
  Builds `ferry`, the Rust half of Ferry, and copies it to `priv/ferry` of
  the application's directory under `_build` (`Mix.Project.app_path/0`),
  where the `ferry` application finds it with `code:priv_dir(ferry)`.

  It runs `cargo build --release --locked` in the Cargo workspace named by the
  `:ferry_rust` project option (`root:`, relative to the Mix project), and
  only when `src/**`, `Cargo.toml` or `Cargo.lock` changed since the last
  build, or when the binary is missing. Cargo's output is printed as it
  comes; a failed build fails the compile.

  Nothing is written into the project's source tree: the binary and the
  build stamp are under `_build`. When Ferry is a dependency, so is cargo's
  output (`_build/ferry_cargo`); when it is the project being built,
  cargo's output is the workspace's own `target/`, shared with `make
  build`. `CARGO_TARGET_DIR`, when set, is cargo's target directory in
  every case.

  Enable it after the default compilers:

      def project do
        [
          compilers: Mix.compilers() ++ [:ferry_rust],
          ferry_rust: [root: ".."]
        ]
      end

  `mix compile.ferry_rust --force` rebuilds even when nothing changed.
  The `CARGO` environment variable names the cargo executable (default
  `cargo`).
  """

  use Mix.Task.Compiler

  @binary "ferry"

  @impl Mix.Task.Compiler
  def run(args) do
    {opts, _, _} = OptionParser.parse(args, switches: [force: :boolean])
    config = Mix.Project.config()
    root = Path.expand(Keyword.get(config[:ferry_rust] || [], :root, "."))
    target = binary_path()

    digest = sources_digest(root)

    if opts[:force] || File.read(stamp_path()) != {:ok, stamp(digest, target)} do
      build(root, target, digest)
    else
      {:noop, []}
    end
  end

  @impl Mix.Task.Compiler
  def manifests, do: [stamp_path()]

  @impl Mix.Task.Compiler
  def clean do
    File.rm(stamp_path())
    File.rm(binary_path())
    :ok
  end

  defp binary_path, do: Path.join([Mix.Project.app_path(), "priv", @binary])

  # Holds a digest of the Rust sources of the last good build, and of the
  # binary it installed. Cargo keeps its own fingerprints in target/, but
  # this lets an unchanged tree skip starting cargo at all. A digest rather
  # than mtimes: a checkout or an edit within the same second must still
  # count as a change. The binary's own digest catches a binary replaced
  # behind our back: Mix copies a project's priv/ over _build's, so a stale
  # priv/ferry left by an older build would otherwise win silently.
  defp stamp_path, do: Path.join(Mix.Project.manifest_path(), "ferry_rust.stamp")

  defp stamp(sources_digest, binary) do
    case File.read(binary) do
      {:ok, bytes} -> sources_digest <> " " <> Base.encode16(:erlang.md5(bytes), case: :lower)
      {:error, _} -> :missing
    end
  end

  # Cargo's target directory. A dependency's build output belongs under
  # the user's _build; the project's own goes in its workspace's target/,
  # where `make build` puts it.
  defp cargo_target(root) do
    cond do
      dir = System.get_env("CARGO_TARGET_DIR") -> dir
      dependency?() -> Path.join(Path.dirname(Mix.Project.build_path()), "ferry_cargo")
      true -> Path.join(root, "target")
    end
  end

  # Built for another project: its _build is not below this project's
  # directory.
  defp dependency? do
    not String.starts_with?(Path.expand(Mix.Project.build_path()), File.cwd!() <> "/")
  end

  defp sources_digest(root) do
    files =
      (Path.wildcard(Path.join(root, "src/**/*")) ++
         [Path.join(root, "Cargo.toml"), Path.join(root, "Cargo.lock")])
      |> Enum.filter(&File.regular?/1)
      |> Enum.sort()

    files
    |> Enum.reduce(:erlang.md5_init(), fn file, hash ->
      hash
      |> :erlang.md5_update(Path.relative_to(file, root))
      |> :erlang.md5_update(File.read!(file))
    end)
    |> :erlang.md5_final()
    |> Base.encode16(case: :lower)
  end

  defp build(root, target, digest) do
    cargo = System.get_env("CARGO", "cargo")
    Mix.shell().info("==> ferry: #{cargo} build --release --locked (in #{root})")

    result =
      try do
        System.cmd(cargo, ["build", "--release", "--locked"],
          cd: root,
          env: [{"CARGO_TARGET_DIR", cargo_target(root)}],
          stderr_to_stdout: true,
          into: IO.stream(:stdio, :line)
        )
      rescue
        error in ErlangError -> {:not_run, error}
      end

    case result do
      {_, 0} ->
        install(Path.join([cargo_target(root), "release", @binary]), target, digest)

      {_, status} when is_integer(status) ->
        fail("cargo build --release --locked failed with exit status #{status} (output above)")

      {:not_run, error} ->
        fail(
          "could not run #{cargo} (#{Exception.message(error)}): is Rust installed? CARGO names the executable"
        )
    end
  end

  defp install(built, target, digest) do
    priv = Path.dirname(target)

    # An older Mix build linked _build's priv/ to the project's own: a
    # directory of _build's keeps the binary out of the source tree.
    if match?({:ok, %File.Stat{type: :symlink}}, File.lstat(priv)), do: File.rm!(priv)

    File.mkdir_p!(priv)
    # Copy to a temporary name and rename: a running VM keeps executing the
    # old file instead of seeing a half-written one.
    tmp = target <> ".tmp"
    File.cp!(built, tmp)
    File.chmod!(tmp, 0o755)
    File.rename!(tmp, target)
    File.mkdir_p!(Path.dirname(stamp_path()))
    File.write!(stamp_path(), stamp(digest, target))
    Mix.shell().info("==> ferry: installed #{Path.relative_to_cwd(target)}")
    {:ok, []}
  end

  defp fail(message) do
    Mix.shell().error("==> ferry: " <> message)

    diagnostic = %Mix.Task.Compiler.Diagnostic{
      compiler_name: "ferry_rust",
      file:
        Path.expand(
          "Cargo.toml",
          Keyword.get(Mix.Project.config()[:ferry_rust] || [], :root, ".")
        ),
      message: message,
      position: nil,
      severity: :error
    }

    {:error, [diagnostic]}
  end
end
