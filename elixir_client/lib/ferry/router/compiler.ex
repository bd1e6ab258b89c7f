defmodule Ferry.Router.Compiler do
  # Turns the route macros of Ferry.Router into function clauses:
  #
  #   __ferry_match__(method, path_info) -> {:route, label, path_params, fun}
  #                                       | {:forward, router, consumed, rest}
  #                                       | :nomatch
  #   __ferry_allow__(path_info)         -> methods of the routes whose path
  #                                         matches, for the 405 answer
  #
  # A route's body becomes a closure returned by its clause (as in
  # Plug.Router), so every clause of __ferry_match__ stays together and the
  # body keeps the lexical context (imports, aliases) of the router module.
  @moduledoc false

  @route_options [:do, :to, :init_opts, :assigns, :private]

  @doc false
  # `options` are a route macro's: the body (`do:`, or a module plug in
  # `to:` with `init_opts:`), and `assigns:` and `private:` to merge into
  # the conn before the body runs.
  def route(methods, path, options, caller) do
    {body, setup} = body!(options, caller)
    {segments, path_text} = parse_path!(path, caller)
    # The head binds each :name as a variable of the route's body.
    {pattern, vars} = pattern(segments, &Macro.var(&1, nil))
    label = label(methods, path_text)
    method = Macro.var(:method, __MODULE__)

    path_params =
      {:%{}, [], Enum.map(vars, fn name -> {name, Macro.var(String.to_atom(name), nil)} end)}

    head =
      case methods do
        :any ->
          quote do: __ferry_match__(_, unquote(pattern))

        [single] ->
          quote do: __ferry_match__(unquote(single), unquote(pattern))

        several ->
          quote do:
                  __ferry_match__(unquote(method), unquote(pattern))
                  when unquote(method) in unquote(several)
      end

    quote do
      Ferry.Router.Compiler.check_reachable(
        __MODULE__,
        unquote(methods),
        unquote(label),
        __ENV__
      )

      @ferry_routes {unquote(methods), unquote(Macro.escape(segments))}
      unquote(setup)
      @doc false
      def unquote(head) do
        {:route, unquote(label), unquote(path_params),
         fn var!(conn) ->
           _ = var!(conn)
           unquote(body)
         end}
      end
    end
  end

  @doc false
  # Run as each route is defined: a `match _` above (for these methods)
  # takes every request this route could get.
  def check_reachable(module, methods, label, env) do
    shadowed? =
      module
      |> Module.get_attribute(:ferry_routes)
      |> Enum.any?(fn {earlier, segments} ->
        segments == :any and
          (earlier == :any or (methods != :any and Enum.all?(methods, &(&1 in earlier))))
      end)

    if shadowed? do
      IO.warn(
        "route #{label} is unreachable: match _ above takes every request it would get",
        Macro.Env.stacktrace(env)
      )
    end
  end

  @doc false
  # The methods of `match path, via: …`: atoms or strings, any case.
  def via(methods, caller) do
    methods
    |> List.wrap()
    |> Enum.map(fn
      method when is_atom(method) or is_binary(method) ->
        method |> to_string() |> String.upcase()

      other ->
        compile_error!(
          caller,
          "via: takes method names such as :get, got: #{Macro.to_string(other)}"
        )
    end)
    |> with_head()
  end

  @doc false
  # A route for GET answers HEAD too, however it is written.
  def with_head(methods) do
    if "GET" in methods and "HEAD" not in methods, do: methods ++ ["HEAD"], else: methods
  end

  @doc false
  def forward(prefix, opts, caller) do
    to =
      Keyword.get(opts, :to) ||
        compile_error!(caller, "forward needs a router: forward \"/api\", to: MyApp.Api")

    to = Macro.expand(to, caller)
    init_opts = Keyword.get(opts, :init_opts, [])
    segments = literal_prefix!(prefix, caller, "forward")
    rest = Macro.var(:rest, __MODULE__)

    # Initialised once, at compile time, as Plug initialises plugs.
    quote do
      Ferry.Router.Pipeline.ensure_plug!(unquote(to), "forward to:", __ENV__)
      @ferry_forward_init unquote(to).init(unquote(init_opts))
      @doc false
      def __ferry_match__(_, unquote(prefix_pattern(segments, rest))) do
        {:forward, unquote(to), @ferry_forward_init, unquote(segments), unquote(rest)}
      end
    end
  end

  # The literal segments of a forward's or static's prefix.
  defp literal_prefix!(prefix, caller, macro) do
    {segments, _} = parse_path!(prefix, caller)

    if segments == :any or Enum.any?(segments, &(not is_binary(&1))) do
      compile_error!(
        caller,
        "#{macro} takes a literal prefix such as \"/api\", got: #{Macro.to_string(prefix)}"
      )
    end

    segments
  end

  # [s1 | [s2 | rest]]: the prefix's segments, then whatever follows.
  defp prefix_pattern(segments, rest) do
    segments
    |> Enum.reverse()
    |> Enum.reduce(rest, fn segment, tail -> [{:|, [], [segment, tail]}] end)
  end

  @doc false
  def static(prefix, opts, caller) do
    segments = literal_prefix!(prefix, caller, "static")

    # Options written out in place are checked now, not at the first request.
    if Macro.quoted_literal?(opts) do
      try do
        Ferry.Static.validate!(opts)
      rescue
        error in ArgumentError -> compile_error!(caller, error.message)
      end
    end

    rest = Macro.var(:rest, __MODULE__)
    method = Macro.var(:method, __MODULE__)
    label = "static " <> prefix

    quote do
      @ferry_routes {["GET", "HEAD"], unquote(Macro.escape(segments ++ [{:glob, "rest"}]))}
      @doc false
      def __ferry_match__(unquote(method), unquote(prefix_pattern(segments, rest)))
          when unquote(method) in ["GET", "HEAD"] do
        {:route, unquote(label), %{},
         fn conn -> Ferry.Static.serve(conn, unquote(rest), unquote(opts)) end}
      end
    end
  end

  @doc false
  def finish(routes) do
    path_info = Macro.var(:path_info, __MODULE__)
    acc = Macro.var(:acc, __MODULE__)

    steps =
      for {methods, segments} <- routes, is_list(methods), segments != :any do
        {pattern, _} = pattern(segments, fn _ -> Macro.var(:_, nil) end)

        quote do
          unquote(acc) =
            case unquote(path_info) do
              unquote(pattern) -> [unquote(methods) | unquote(acc)]
              _ -> unquote(acc)
            end
        end
      end

    quote do
      @doc false
      def __ferry_match__(_method, _path_info), do: :nomatch

      @doc false
      def __ferry_allow__(unquote(path_info)) do
        _ = unquote(path_info)
        unquote(acc) = []
        unquote_splicing(steps)
        unquote(acc) |> Enum.reverse() |> List.flatten() |> Enum.uniq()
      end
    end
  end

  # Segments: a literal binary, {:param, name} or {:glob, name} (last only);
  # :any for `match _`.
  defp parse_path!({:_, _, context}, _caller) when is_atom(context), do: {:any, "*"}

  defp parse_path!(path, caller) when is_binary(path) do
    segments = path |> String.split("/", trim: true) |> Enum.map(&segment!(&1, path, caller))
    {globs, _last} = segments |> Enum.drop(-1) |> Enum.split_with(&match?({:glob, _}, &1))

    if globs != [] do
      compile_error!(caller, "a *glob may only be the last segment of #{inspect(path)}")
    end

    # "/a/:x/b/:x" would match only equal segments; nobody means that.
    names = for {kind, name} <- segments, kind in [:param, :glob], do: name

    case names -- Enum.uniq(names) do
      [] -> :ok
      [twice | _] -> compile_error!(caller, ":#{twice} is bound twice in #{inspect(path)}")
    end

    {segments, path}
  end

  defp parse_path!(other, caller) do
    compile_error!(
      caller,
      "a route path must be a literal string or _, got: #{Macro.to_string(other)}"
    )
  end

  defp segment!(":" <> name, path, caller), do: {:param, identifier!(name, path, caller)}
  defp segment!("*" <> name, path, caller), do: {:glob, identifier!(name, path, caller)}
  defp segment!(literal, _path, _caller), do: literal

  defp identifier!(name, path, caller) do
    if name =~ ~r/\A[a-z_][a-zA-Z0-9_]*\z/ do
      name
    else
      compile_error!(caller, "#{inspect(name)} in #{inspect(path)} is not a valid variable name")
    end
  end

  # The pattern matching conn.path_info, and the names it binds.
  defp pattern(:any, _var), do: {Macro.var(:_, nil), []}

  defp pattern(segments, var) do
    {reversed, names} =
      Enum.reduce(segments, {[], []}, fn
        {:param, name}, {acc, names} ->
          {[var.(String.to_atom(name)) | acc], [name | names]}

        {:glob, name}, {acc, names} ->
          {[{:glob, var.(String.to_atom(name))} | acc], [name | names]}

        literal, {acc, names} ->
          {[literal | acc], names}
      end)

    pattern =
      case reversed do
        [{:glob, tail} | init] ->
          Enum.reduce(init, tail, fn segment, tail -> [{:|, [], [segment, tail]}] end)

        _ ->
          Enum.reverse(reversed)
      end

    {pattern, Enum.reverse(names)}
  end

  defp label(:any, path), do: "* " <> path
  defp label([method | _], path), do: method <> " " <> path

  defp body!(options, caller) do
    unless Keyword.keyword?(options) do
      compile_error!(
        caller,
        "a route takes a keyword list: get \"/\", do: ... or get \"/\", to: MyPlug"
      )
    end

    for {key, _} <- options, key not in @route_options do
      compile_error!(
        caller,
        "unknown route option #{inspect(key)}; the options are #{inspect(@route_options)}"
      )
    end

    {body, setup} =
      case {Keyword.fetch(options, :do), Keyword.fetch(options, :to)} do
        {{:ok, body}, :error} ->
          {body, nil}

        {:error, {:ok, to}} ->
          # Initialised once, at compile time, as Plug.Router does.
          setup =
            quote do
              Ferry.Router.Pipeline.ensure_plug!(unquote(to), "to:", __ENV__)
              @ferry_route_init unquote(to).init(unquote(Keyword.get(options, :init_opts, [])))
            end

          {quote(do: unquote(to).call(var!(conn), @ferry_route_init)), setup}

        _ ->
          compile_error!(
            caller,
            "a route needs a body (do: ...) or a module plug (to: MyPlug), not both nor neither"
          )
      end

    {merge(:private, options, merge(:assigns, options, body)), setup}
  end

  # The body, after `assigns:` or `private:` are merged into the conn.
  defp merge(key, options, body) do
    case Keyword.fetch(options, key) do
      {:ok, values} ->
        quote do
          var!(conn) = Ferry.Router.Dispatch.merge(var!(conn), unquote(key), unquote(values))
          unquote(body)
        end

      :error ->
        body
    end
  end

  defp compile_error!(caller, message) do
    raise CompileError, file: caller.file, line: caller.line, description: message
  end
end
