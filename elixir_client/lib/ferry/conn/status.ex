defmodule Ferry.Conn.Status do
  @moduledoc """
  Status codes by name, as `Plug.Conn.Status` has them, so `send_resp(conn,
  :not_found, "…")` and `put_status(conn, :created)` read as they do in
  Plug. The name is the reason phrase in snake case (`:im_a_teapot`,
  `:request_entity_too_large`); the RFC 9110 names `:content_too_large`
  and `:unprocessable_content` work too.

      404 = Ferry.Conn.Status.code(:not_found)
      "Not Found" = Ferry.Conn.Status.reason_phrase(404)
  """

  statuses = [
    {100, "Continue"},
    {101, "Switching Protocols"},
    {102, "Processing"},
    {103, "Early Hints"},
    {200, "OK"},
    {201, "Created"},
    {202, "Accepted"},
    {203, "Non-Authoritative Information"},
    {204, "No Content"},
    {205, "Reset Content"},
    {206, "Partial Content"},
    {207, "Multi-Status"},
    {208, "Already Reported"},
    {226, "IM Used"},
    {300, "Multiple Choices"},
    {301, "Moved Permanently"},
    {302, "Found"},
    {303, "See Other"},
    {304, "Not Modified"},
    {305, "Use Proxy"},
    {307, "Temporary Redirect"},
    {308, "Permanent Redirect"},
    {400, "Bad Request"},
    {401, "Unauthorized"},
    {402, "Payment Required"},
    {403, "Forbidden"},
    {404, "Not Found"},
    {405, "Method Not Allowed"},
    {406, "Not Acceptable"},
    {407, "Proxy Authentication Required"},
    {408, "Request Timeout"},
    {409, "Conflict"},
    {410, "Gone"},
    {411, "Length Required"},
    {412, "Precondition Failed"},
    {413, "Request Entity Too Large"},
    {414, "Request-URI Too Long"},
    {415, "Unsupported Media Type"},
    {416, "Requested Range Not Satisfiable"},
    {417, "Expectation Failed"},
    {418, "I'm a teapot"},
    {421, "Misdirected Request"},
    {422, "Unprocessable Entity"},
    {423, "Locked"},
    {424, "Failed Dependency"},
    {425, "Too Early"},
    {426, "Upgrade Required"},
    {428, "Precondition Required"},
    {429, "Too Many Requests"},
    {431, "Request Header Fields Too Large"},
    {451, "Unavailable For Legal Reasons"},
    {500, "Internal Server Error"},
    {501, "Not Implemented"},
    {502, "Bad Gateway"},
    {503, "Service Unavailable"},
    {504, "Gateway Timeout"},
    {505, "HTTP Version Not Supported"},
    {506, "Variant Also Negotiates"},
    {507, "Insufficient Storage"},
    {508, "Loop Detected"},
    {510, "Not Extended"},
    {511, "Network Authentication Required"}
  ]

  aliases = [content_too_large: 413, unprocessable_content: 422]

  @typedoc "A status code, or its name."
  @type t :: 100..599 | atom()

  @doc "The code of a status given by name or by code; `ArgumentError` for an unknown name."
  @spec code(t()) :: 100..599
  def code(code) when is_integer(code) and code in 100..599, do: code

  for {code, phrase} <- statuses do
    name =
      phrase
      |> String.downcase()
      |> String.replace("'", "")
      |> String.replace(~r/[^a-z0-9]+/, "_")
      |> String.to_atom()

    def code(unquote(name)), do: unquote(code)
  end

  for {name, code} <- aliases, do: def(code(unquote(name)), do: unquote(code))

  def code(other) do
    raise ArgumentError,
          "#{inspect(other)} is not a status: give a code in 100..599 or a name such as :not_found"
  end

  @doc "The reason phrase of a code (`\"Not Found\"`); `\"\"` for a code without one."
  @spec reason_phrase(100..599) :: String.t()
  for {code, phrase} <- statuses, do: def(reason_phrase(unquote(code)), do: unquote(phrase))
  def reason_phrase(code) when is_integer(code), do: ""
end
