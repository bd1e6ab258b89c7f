# The router DSL reads without parentheses, in this project and (export) in
# projects that depend on it and import_deps: [:ferry].
router_dsl = [
  get: 2,
  get: 3,
  post: 2,
  post: 3,
  put: 2,
  put: 3,
  patch: 2,
  patch: 3,
  delete: 2,
  delete: 3,
  head: 2,
  head: 3,
  options: 2,
  options: 3,
  match: 2,
  match: 3,
  forward: 2,
  static: 2,
  plug: 1,
  plug: 2,
  websocket: 2,
  websocket: 3,
  websocket: 4
]

[
  inputs: ["{mix,.formatter}.exs", "{lib,test,demo}/**/*.{ex,exs}"],
  locals_without_parens: router_dsl,
  export: [locals_without_parens: router_dsl]
]
