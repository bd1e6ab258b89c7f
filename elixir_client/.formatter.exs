[
  inputs: ["{mix,.formatter}.exs", "{lib,test,demo}/**/*.{ex,exs}"],
  locals_without_parens: [
    get: 2,
    post: 2,
    put: 2,
    patch: 2,
    delete: 2,
    match: 2,
    forward: 2,
    static: 2
  ],
  export: [
    locals_without_parens: [
      get: 2,
      post: 2,
      put: 2,
      patch: 2,
      delete: 2,
      match: 2,
      forward: 2,
      static: 2
    ]
  ]
]
