defmodule Ferry.Remote do
  @moduledoc """
  Handlers on other BEAM nodes (`docs/CLUSTER.md`). A thin layer over the
  Erlang module `ferry_remote`.

  An application node serves a group, in its supervision tree:

      children = [{Ferry.Remote, group: :api, handler: MyApp.Router}]

  and an edge node (the one with the listener) sends a route there:

      defmodule MyApp.EdgeRouter do
        use Ferry.Router

        match "/api/*_", do: Ferry.Remote.forward(conn, :api)
        static "/", from: "priv/static"
      end

  The handler process runs on the application node and answers straight
  to the edge's port owner; request bodies and streamed responses keep
  their flow control across the hop. Members are taken in turn; a node
  lost with requests in flight answers them 502; with no member left the
  route answers 503 with `retry-after`.
  """

  @doc """
  A member of `group` on this node, serving it with `handler` (a
  `Ferry.Router` module, or any Ferry handler: a module with `handle/1`,
  `{module, opts}`, a fun of arity 1).

  Options: `:group` (any term) and `:handler`, both required.
  """
  @spec child_spec(keyword()) :: Supervisor.child_spec()
  def child_spec(opts) do
    group = Keyword.fetch!(opts, :group)
    handler = Keyword.fetch!(opts, :handler)
    :ferry_remote.child_spec(group, handler)
  end

  @doc "Starts a member of `group` linked to the caller (see `child_spec/1`)."
  @spec serve(term(), term()) :: {:ok, pid()} | {:error, term()}
  def serve(group, handler), do: :ferry_remote.serve(group, handler)

  @doc "The members of `group` this node sees."
  @spec members(term()) :: [pid()]
  def members(group), do: :ferry_remote.members(group)

  @doc """
  Hands the request of `conn` to a member of `group`, from a route of a
  `Ferry.Router` on the edge node. Nothing may have been sent on `conn`
  yet. Does not return when a member takes it; with no member, answers
  503 with `retry-after` and returns the sent conn.
  """
  @spec forward(Ferry.Conn.t(), term()) :: Ferry.Conn.t()
  def forward(%Ferry.Conn{req: req} = conn, group) do
    {status, headers, body} = :ferry_remote.handle(req, group)

    conn
    |> Ferry.Conn.merge_resp_headers(headers)
    |> Ferry.Conn.send_resp(status, body)
  end
end
