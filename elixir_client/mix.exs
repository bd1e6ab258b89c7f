defmodule Ferry.MixProject do
  use Mix.Project

  # The OTP application `ferry` is one project for an Elixir user: the Erlang
  # sources of ../erl are compiled here, and the Rust port program is built by
  # the `ferry_rust` compiler into the app's priv/ under _build, where
  # `code:priv_dir(ferry)` finds it.
  @erl_app_src Path.expand("../erl/src/ferry.app.src", __DIR__)

  def project do
    [
      app: :ferry,
      version: "0.1.0",
      elixir: "~> 1.14",
      start_permanent: Mix.env() == :prod,
      deps: [],
      erlc_paths: ["../erl/src"],
      erlc_include_path: "../erl/include",
      elixirc_paths: elixirc_paths(Mix.env()),
      # ferry_rust runs after :elixir because its module is compiled from lib/.
      compilers: Mix.compilers() ++ [:ferry_rust],
      ferry_rust: [root: ".."],
      docs: [main: "Ferry"]
    ]
  end

  # The demo (demo/lib) is compiled in dev, for `make run`, and in test, so the
  # tests exercise what a new user tries first.
  defp elixirc_paths(:prod), do: ["lib"]
  defp elixirc_paths(_), do: ["lib", "demo/lib"]

  # The application callback module, its dependencies and env come from the
  # Erlang app's own .app.src, so the two cannot drift apart.
  def application do
    erl = erl_app()

    [
      mod: Keyword.get(erl, :mod),
      env: Keyword.get(erl, :env, []),
      extra_applications:
        [:logger | demo_applications(Mix.env())] ++
          (Keyword.get(erl, :applications, []) -- [:kernel, :stdlib])
    ]
    |> Enum.reject(fn {_key, value} -> value == nil end)
  end

  # The demo's upload route hashes with :crypto.
  defp demo_applications(:prod), do: []
  defp demo_applications(_), do: [:crypto]

  defp erl_app do
    case :file.consult(@erl_app_src) do
      {:ok, [{:application, :ferry, props}]} -> props
      _ -> []
    end
  end
end
