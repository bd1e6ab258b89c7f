defmodule Ferry.FormatterTest do
  # .formatter.exs cannot read Ferry.Router (it is evaluated before anything
  # is compiled), so its list of the router's DSL is kept by hand: this
  # checks the two agree, and that a new macro reads without parentheses.
  use ExUnit.Case, async: true

  test ".formatter.exs lists exactly the router's DSL, and exports it" do
    {config, _} = Code.eval_file(Path.expand("../../.formatter.exs", __DIR__))
    dsl = Ferry.Router.__info__(:macros) -- [__using__: 1, __before_compile__: 1]

    assert Enum.sort(config[:locals_without_parens]) == Enum.sort(dsl)
    assert config[:export][:locals_without_parens] == config[:locals_without_parens]
  end
end
