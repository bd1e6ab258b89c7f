defmodule Mix.Tasks.Compile.FerryRust do
  @shortdoc "Builds the Rust port program and copies it into priv/"

  @moduledoc """
  Builds `ferry`, the Rust half of Ferry, and copies it to `priv/ferry`, where
  the `ferry` application finds it with `code:priv_dir(ferry)`.

  It runs `cargo build --release --locked` in the Cargo workspace named by the
  `:ferry_rust` project option (`root:`, relative to the Mix project), and
  only when `src/**`, `Cargo.toml` or `Cargo.lock` changed since the last
  build, or when `priv/ferry` is missing. Cargo's output is printed as it
  comes; a failed build fails the compile.

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
  # Holds a digest of the Rust sources of the last good build. Cargo keeps
  # its own fingerprints in target/, but this lets an unchanged tree skip
  # starting cargo at all. A digest rather than mtimes: a checkout or an
  # edit within the same second must still count as a change.
  @stamp ".ferry_build_stamp"

  @impl Mix.Task.Compiler
  def run(args) do
    {opts, _, _} = OptionParser.parse(args, switches: [force: :boolean])
    config = Mix.Project.config()
    root = Path.expand(Keyword.get(config[:ferry_rust] || [], :root, "."))
    target = Path.expand(Path.join("priv", @binary))

    digest = sources_digest(root)

    if opts[:force] || not File.exists?(target) || File.read(Path.expand(@stamp)) != {:ok, digest} do
      build(root, target, digest)
    else
      {:noop, []}
    end
  end

  @impl Mix.Task.Compiler
  def manifests, do: [Path.expand(@stamp)]

  @impl Mix.Task.Compiler
  def clean do
    File.rm(Path.expand(@stamp))
    File.rm(Path.expand(Path.join("priv", @binary)))
    :ok
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
          stderr_to_stdout: true,
          into: IO.stream(:stdio, :line)
        )
      rescue
        error in ErlangError -> {:not_run, error}
      end

    case result do
      {_, 0} ->
        install(Path.join([root, "target", "release", @binary]), target, digest)

      {_, status} when is_integer(status) ->
        fail("cargo build --release --locked failed with exit status #{status} (output above)")

      {:not_run, error} ->
        fail(
          "could not run #{cargo} (#{Exception.message(error)}): is Rust installed? CARGO names the executable"
        )
    end
  end

  defp install(built, target, digest) do
    File.mkdir_p!(Path.dirname(target))
    # Copy to a temporary name and rename: a running VM keeps executing the
    # old file instead of seeing a half-written one.
    tmp = target <> ".tmp"
    File.cp!(built, tmp)
    File.chmod!(tmp, 0o755)
    File.rename!(tmp, target)
    File.write!(Path.expand(@stamp), digest)
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
